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

from optim_core.engines import numba_engine
from optim_core.search import (
    DIVERGED_LOSS,
    Choice,
    Float,
    Int,
    TrialSpecs,
    default_space,
    make_sampler,
    open_storage,
    search,
)
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


def test_a_grid_too_large_is_refused_before_optuna_lists_it():
    """GridSampler lists every point up front: 1e8 points took tens of GB before it gave up."""
    space = {k: Float(0.1, 0.9, grid=10) for k in ("momentum", "dampening")}
    space |= {"lr": Float(1e-4, 1.0, log=True, grid=10), "weight_decay": Float(0, 1, grid=10)}
    space |= {"optimizer": Choice(("SGD",)), "StepLR.gamma": Float(0.1, 0.9, grid=100)}
    space |= {"schedule": Choice(("StepLR",)), "StepLR.step_size": Int(1, 100, grid=100)}
    with pytest.raises(ValueError, match="a grid over these ranges has 100,000,000 points"):
        search(RunSpec(surface="bowl", steps=20), space, "grid", n_trials=10)


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


def _rerun(base: RunSpec, params: dict):
    """The trial's run, built the slow way (RunSpec's full validation) from its params."""
    h = {**base.h, **{k: v for k, v in params.items() if k in base.h}}
    if "beta1" in params or "beta2" in params:
        h["betas"] = (params.get("beta1", h["betas"][0]), params.get("beta2", h["betas"][1]))
    return numba_engine.run(base.with_(hyperparameters=h))


@pytest.mark.parametrize(
    "sampler, pruner", [("random", None), ("tpe", None), ("random", "hyperband")]
)
def test_trials_record_where_their_run_ended(sampler, pruner):
    base = RunSpec(surface="rastrigin", optimizer="Adam", steps=81)
    study = search(base, ADAM_SPACE, sampler, n_trials=24, batch=12, pruner=pruner)
    told = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(told) == 24
    for t in told:
        x, y = t.user_attrs["x_end"], t.user_attrs["y_end"]
        assert type(x) is float and type(y) is float
        traj = _rerun(base.with_(steps=t.user_attrs["steps"]), t.params)
        assert (x, y) == tuple(traj.final_position)
        assert t.user_attrs["diverged"] == traj.diverged
    if pruner:
        assert any(t.state == TrialState.PRUNED for t in told)


def test_a_study_records_the_run_its_trials_vary(tmp_path):
    # A worker's study, attached to from the app, is drawn on its own surface and start.
    base = RunSpec(surface="himmelblau", optimizer="Adam", steps=50, start=(1.0, -2.0))
    journal = str(tmp_path / "study.journal")
    search(base, ADAM_SPACE, "random", n_trials=4, storage=journal, study_name="s")
    again = RunSpec(surface="rastrigin", optimizer="Adam", steps=50)
    search(again, ADAM_SPACE, "random", n_trials=4, storage=journal, study_name="s")
    study = optuna.load_study(study_name="s", storage=open_storage(journal))
    assert RunSpec.from_json(study.user_attrs["base_spec"]) == base  # the first one stays
    assert len(study.trials) == 8


def test_batched_random_search_draws_and_scores_as_optimize_does():
    """The add_trials path for random search is Optuna's sampler, not a copy of it: the same
    seed gives the same trials, value for value, as study.optimize one trial at a time."""
    base = RunSpec(surface="rosenbrock", optimizer="SGD", steps=60)
    space = default_space(("SGD", "Adam", "RMSprop"))
    batched = search(base, space, "random", n_trials=40, batch=16, seed=3)
    specs = TrialSpecs(space, base)

    def objective(trial):
        traj = numba_engine.run(specs.from_trial(trial))
        return DIVERGED_LOSS if traj.diverged else traj.final_loss

    one = optuna.create_study(sampler=make_sampler("random", space, 3))
    one.optimize(objective, n_trials=40)
    assert [t.params for t in batched.trials] == [t.params for t in one.trials]
    assert [t.value for t in batched.trials] == [t.value for t in one.trials]


def test_fast_specs_equal_validated_specs():
    base = RunSpec(surface="himmelblau", optimizer="Adam", steps=30, noise=0.1, seed=4,
                   schedule="StepLR", schedule_params={"step_size": 10})  # fmt: skip
    space = {**default_space(("SGD", "Adam", "AdamW", "Lion", "Adagrad")),
             "nesterov": Choice((False, True)), "amsgrad": Choice((False, True))}  # fmt: skip
    specs = TrialSpecs(space, base)
    assert specs.fast
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    built = 0
    for _ in range(60):
        trial = study.ask()
        try:
            fast = specs.from_trial(trial)
        except ValueError as error:  # SGD's Nesterov rule, checked per trial
            assert "nesterov" in str(error)
            study.tell(trial, state=TrialState.FAIL)
            continue
        slow = RunSpec.from_json(fast.to_json())
        assert fast == slow and hash(fast) == hash(slow) and fast.to_json() == slow.to_json()
        assert (fast.surface_def, fast.optimizer_def) == (slow.surface_def, slow.optimizer_def)
        assert fast.lr_schedule == slow.lr_schedule
        study.tell(trial, 1.0)
        built += 1
    assert built > 30


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_invalid_trial_values_fail_with_the_reason(sampler):
    # momentum up to 1.5 is partly outside [0, 1): those trials are validated and fail
    space = {"optimizer": Choice(("SGD",)), "momentum": Float(0.5, 1.5), "lr": Float(1e-3, 1e-2)}
    assert not TrialSpecs(space, RunSpec(surface="bowl")).fast
    study = search(RunSpec(surface="bowl", steps=20), space, sampler, n_trials=30, batch=10)
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert failed and len(failed) < 30
    assert all(t.params["momentum"] >= 1 for t in failed)
    assert all("'momentum' must be a float in [0, 1)" in t.user_attrs["error"] for t in failed)
    # a space within range, with a cross-parameter rule: Nesterov needs dampening 0
    base = RunSpec(surface="bowl", optimizer="SGD", steps=20, hyperparameters={"dampening": 0.5})
    space = {"nesterov": Choice((False, True)), "momentum": Float(0.1, 0.9)}
    assert TrialSpecs(space, base).fast
    study = search(base, space, sampler, n_trials=20, batch=10)
    for t in study.trials:
        assert (t.state == TrialState.FAIL) == t.params["nesterov"]
        if t.params["nesterov"]:
            assert "needs momentum > 0 and dampening == 0" in t.user_attrs["error"]


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
