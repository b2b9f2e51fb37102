"""``python -m benchmarks [--quick]``: every benchmark, all numbers measured in this run."""

import sys

from benchmarks import (
    bench_app,
    bench_browser,
    bench_core,
    bench_formula,
    bench_limit,
    bench_many,
    bench_models,
    bench_search,
)

if __name__ == "__main__":
    quick = "--quick" in sys.argv
    bench_core.main(quick)
    print()
    bench_limit.main(quick)
    print()
    bench_many.main(quick)
    print()
    bench_app.main(quick)
    print()
    bench_formula.main(quick)
    print()
    bench_models.main(quick)
    print()
    bench_search.main(quick)
    print()
    bench_browser.main(quick)
