"""One search worker: adds N trials to a shared study, with a text progress bar on stderr.

    python -m optim_core.search_worker --storage URL_OR_JOURNAL_FILE --study NAME --trials N

Start as many as there are cores or machines; Optuna's storage (a journal file on one
machine, PostgreSQL across machines) shares the study, so each worker's N trials are added
exactly once. ``--spec`` is a RunSpec as JSON (default: Adam on Rastrigin, 500 steps);
the space is ``search.default_space`` over ``--optimizers``.
"""

import argparse
import sys
import time

import optuna

from .search import PRUNERS, SAMPLERS, default_space, search
from .spec import RunSpec

BAR_WIDTH = 30


def progress_bar(total: int, stream=sys.stderr):
    began = time.perf_counter()

    def show(done: int) -> None:
        filled = BAR_WIDTH * done // max(total, 1)
        rate = done / max(time.perf_counter() - began, 1e-9)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        stream.write(f"\r[{bar}] {done}/{total} trials, {rate:.0f} trials/s")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optim_core.search_worker")
    parser.add_argument("--storage", required=True, help="RDB URL or journal file path")
    parser.add_argument("--study", required=True, help="study name (created if missing)")
    parser.add_argument("--trials", type=int, required=True, help="trials this worker adds")
    parser.add_argument("--spec", default=None, help="base RunSpec as JSON")
    parser.add_argument("--optimizers", default="SGD,Adam", help="comma-separated choices")
    parser.add_argument("--sampler", default="tpe", choices=SAMPLERS)
    parser.add_argument("--pruner", default=None, choices=[p for p in PRUNERS if p])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=None, help="sampler seed (default: random)")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the bar is the progress report
    base = (
        RunSpec.from_json(args.spec)
        if args.spec
        else RunSpec(surface="rastrigin", optimizer="Adam", steps=500)
    )
    try:
        study = search(
            base,
            default_space(tuple(args.optimizers.split(","))),
            sampler=args.sampler,
            n_trials=args.trials,
            batch=args.batch,
            storage=args.storage,
            study_name=args.study,
            seed=args.seed,
            pruner=args.pruner,
            progress=progress_bar(args.trials),
        )
    except ValueError as error:
        print(f"search_worker: {error}", file=sys.stderr)
        return 2
    print(f"best value {study.best_value:.6g} with {study.best_params}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
