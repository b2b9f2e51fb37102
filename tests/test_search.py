"""Search on Optuna: TPE vs random, Hyperband on steps, workers sharing journal and PostgreSQL."""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from optim_core.search import DIVERGED_LOSS, Choice, Float, open_storage, search
from optim_core.spec import RunSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
ROOT = Path(__file__).resolve().parents[1]
ADAM_SPACE = {
    "lr": Float(1e-4, 1.0, log=True),
    "beta1": Float(0.5, 0.99),
    "beta2": Float(0.9, 0.9999),
}


def test_tpe_beats_random_on_median_best_loss():
    base = RunSpec(surface="rosenbrock", optimizer="Adam", steps=200)
    best = {
        sampler: [
            search(base, ADAM_SPACE, sampler, n_trials=60, batch=10, seed=seed).best_value
            for seed in range(10)
        ]
        for sampler in ("random", "tpe")
    }
    assert np.median(best["tpe"]) < 0.5 * np.median(best["random"]), best


def test_hyperband_prunes_and_pruned_trials_ran_fewer_steps():
    base = RunSpec(surface="rastrigin", optimizer="Adam", steps=270)
    study = search(base, ADAM_SPACE, "random", n_trials=60, batch=60, pruner="hyperband")
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert pruned and complete
    assert all(t.user_attrs["steps"] < base.steps for t in pruned)
    assert all(max(t.intermediate_values) == t.user_attrs["steps"] for t in pruned)
    ran = [t.user_attrs["steps"] for t in complete if not t.user_attrs["diverged"]]
    assert max(ran) == base.steps


def test_space_is_conditional_and_divergence_is_a_large_finite_value():
    space = {"optimizer": Choice(("SGD", "Adam")), "lr": Float(1.0, 100.0, log=True),
             "momentum": Float(0.0, 0.9), "beta1": Float(0.5, 0.9)}  # fmt: skip
    study = search(RunSpec(surface="bowl", steps=50), space, "random", n_trials=20, batch=20)
    for t in study.trials:
        assert ("momentum" in t.params) == (t.params["optimizer"] == "SGD")
        assert ("beta1" in t.params) == (t.params["optimizer"] == "Adam")
    diverged = [t for t in study.trials if t.user_attrs["diverged"]]
    assert diverged and all(t.value == DIVERGED_LOSS for t in diverged)


def test_grid_stops_after_its_grid():
    space = {"lr": Float(1e-3, 1e-1, log=True, grid=3), "optimizer": Choice(("SGD", "Adam"))}
    study = search(RunSpec(surface="bowl", steps=20), space, "grid", n_trials=100, batch=4)
    assert len(study.trials) == 6
    assert len({(t.params["lr"], t.params["optimizer"]) for t in study.trials}) == 6


@pytest.mark.parametrize(
    "kwargs, match",
    [({"sampler": "cmaes"}, "'sampler'"), ({"pruner": "median"}, "'pruner'"),
     ({"space": {"rho": Float(0.1, 0.9)}}, "'rho'"), ({"batch": 0}, "'batch'")],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        search(RunSpec(surface="bowl"), **{"n_trials": 1, **kwargs})


def run_workers(storage: str, study: str, trials: int, workers: int = 2) -> None:
    cmd = [sys.executable, "-m", "optim_core.search_worker", "--storage", storage,
           "--study", study, "--trials", str(trials), "--batch", "7",
           "--spec", RunSpec(surface="rosenbrock", steps=100).to_json()]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(workers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert f"{trials}/{trials} trials" in err


def assert_exactly(storage, study: str, n: int) -> None:
    trials = optuna.load_study(study_name=study, storage=open_storage(storage)).trials
    assert len(trials) == n
    assert sorted(t.number for t in trials) == list(range(n))
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_two_workers_share_a_journal_study(tmp_path):
    path = str(tmp_path / "study.journal")
    run_workers(path, "shared", 25)
    assert_exactly(path, "shared", 50)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server (Debian's postgresql package); skips without it, except
    under CI=true, where it fails."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    missing = "PostgreSQL binaries missing (apt-get install postgresql)" if not bins else ""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing = missing or "psycopg2 missing (pip install psycopg2-binary)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    bindir = Path(bins[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="optuna-pg-"))  # pytest's tmp is private to root
    data, port = root / "data", _free_port()
    as_postgres = os.geteuid() == 0  # initdb refuses root
    if as_postgres:
        shutil.chown(root, "postgres")
        os.chmod(root, 0o755)

    def sh(*args):
        cmd = ["su", "postgres", "-c", " ".join(map(str, args))] if as_postgres else list(args)
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    sh(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    opts = f"'-p {port} -k {root} -c listen_addresses=127.0.0.1'"
    sh(bindir / "pg_ctl", "-D", data, "-o", opts if as_postgres else opts.strip("'"),
       "-l", root / "log", "-w", "start")  # fmt: skip
    try:
        sh(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "optuna")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna"
    finally:
        sh(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_postgres_study(postgres_url):
    run_workers(postgres_url, "shared", 15)
    assert_exactly(postgres_url, "shared", 30)
