"""``python -m benchmarks``: every benchmark, numbers measured in this run."""

import sys

from benchmarks import bench_core

if __name__ == "__main__":
    bench_core.main(quick="--quick" in sys.argv)
