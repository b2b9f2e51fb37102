"""Kernels ready before they are needed: the install-time warm command, and a new pair's first
result drawn through the formula interpreter while its own kernel compiles."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import threading
from dataclasses import replace

import numpy as np
import pytest

from landscapes import SURFACES
from optim_core.config import LabConfig, config_from_lesson
from optim_core.engines import background, numba_engine, surface_program, warm
from optim_core.engines.prepare import prepare
from optim_core.lessons import LESSONS
from optim_core.optimizers import OPTIMIZERS
from optim_core.spec import RunSpec, freeze

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _both_paths(spec: RunSpec):
    """(the pair's own kernel's output, the interpreter's), each (pos, loss, lr, eff, status,
    stop)."""
    p = prepare(spec)
    args = numba_engine._trajectory_args(p)
    own_out, stand_in_out = numba_engine._out(spec.steps), numba_engine._out(spec.steps)
    own = numba_engine._kernels(p, p.sam_rho > 0.0).trajectory(p.a, *args, own_out)
    kernel, program = numba_engine._stand_in(p)
    stand_in = kernel(program, *args, stand_in_out)
    return (*own_out, *own), (*stand_in_out, *stand_in)


def _assert_bit_identical(a, b, what):
    for name, x, y in zip(("positions", "loss", "lr", "eff", "status", "stop"), a, b, strict=True):
        assert np.array_equal(x, y, equal_nan=True), f"{what}: {name} differs"


# Every surface with one optimizer (the translated f and grad), every optimizer on one surface
# (the update rule is the same source in both kernels, but compiled twice).
CASES = [(name, "SGD") for name in SURFACES] + [("rastrigin", name) for name in OPTIMIZERS]


@pytest.mark.parametrize(("surface", "optimizer"), CASES)
def test_interpreter_path_equals_the_pairs_own_kernel_bit_for_bit(surface, optimizer):
    s = SURFACES[surface]
    for start in s.starts[:2]:
        spec = RunSpec(surface=surface, optimizer=optimizer, start=start, steps=300)
        _assert_bit_identical(*_both_paths(spec), f"{surface}/{optimizer} from {start}")


def test_interpreter_path_is_exact_with_sam_noise_schedules_and_parameters():
    specs = [
        RunSpec(surface="ackley", optimizer="Adam", steps=400, sam_rho=0.05, noise=0.3, seed=3),
        RunSpec(
            surface="bowl",
            surface_params=freeze({"kappa": 250.0}),
            optimizer="SGD",
            hyperparameters=freeze({"lr": 0.007, "momentum": 0.9, "nesterov": True}),
            schedule="OneCycleLR",
            schedule_params=freeze({"max_lr": 0.007, "total_steps": 300}),
            steps=300,
        ),
        RunSpec(surface="rosenbrock", optimizer="RMSprop", schedule="ReduceLROnPlateau", steps=300),
        RunSpec(surface="beale", optimizer="Adam", start=(4.4, 4.4), steps=50),  # diverges
    ]
    for spec in specs:
        _assert_bit_identical(*_both_paths(spec), spec.label or spec.surface)


def _f_with_a_float_power(x, y, a):
    return x**0.5 + y


def _f_with_a_branch(x, y, a):
    if x > 0.0:
        return x
    return y


def _f_of_constants(x, y, a):
    return x + 2.0**3


def test_only_exact_counterparts_are_translated():
    bowl = SURFACES["bowl"]
    for f in (_f_with_a_float_power, _f_with_a_branch, _f_of_constants):
        assert surface_program.program(replace(bowl, f=f), (10.0,)) is None, f.__name__
    assert all(surface_program.program(s, (10.0,) * len(s.params)) is not None
               for s in SURFACES.values())  # fmt: skip
    formula = RunSpec(surface="custom", formula="x^2 + y^2", optimizer="SGD", steps=3)
    assert numba_engine._stand_in(prepare(formula)) is None  # it is the interpreter already


def _fresh_kernels(spec: RunSpec, monkeypatch):
    """A second copy of the pair's kernel module, as a new server process would import it:
    its kernels are in the disk cache but not loaded."""
    p = prepare(spec)
    loaded = numba_engine._kernels(p, False)
    loaded.trajectory(p.a, *numba_engine._trajectory_args(p), numba_engine._out(spec.steps))
    name = f"{loaded.__name__}_fresh_{id(monkeypatch)}"
    module_spec = importlib.util.spec_from_file_location(name, loaded.__file__)
    fresh = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(fresh)
    monkeypatch.setattr(numba_engine, "_kernels", lambda p, sam: fresh)
    return fresh


def test_a_pair_not_loaded_answers_through_the_interpreter_then_switches(monkeypatch):
    spec = RunSpec(surface="levy13", optimizer="Adamax", steps=400)
    numba_engine.warm_up([spec])
    reference = numba_engine.run(spec)  # the pair's own kernel, loaded above
    fresh = _fresh_kernels(spec, monkeypatch)
    assert not fresh.trajectory.signatures
    stand_ins = []
    real_stand_in = numba_engine._stand_in
    monkeypatch.setattr(
        numba_engine, "_stand_in", lambda p: stand_ins.append(p) or real_stand_in(p)
    )
    results = []
    threads = [threading.Thread(target=lambda: results.append(numba_engine.run(spec)))
               for _ in range(6)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    background.wait(timeout=120)
    stats = fresh.trajectory.stats  # loaded from the disk cache once, on the compile thread
    assert (sum(stats.cache_hits.values()), sum(stats.cache_misses.values())) == (1, 0)
    assert 1 <= len(stand_ins) <= len(threads)  # at least the first went through the interpreter
    before = len(stand_ins)
    results.append(numba_engine.run(spec))  # now through the pair's own kernel
    assert len(stand_ins) == before
    for r in results:
        assert np.array_equal(r.positions, reference.positions, equal_nan=True)
        assert np.array_equal(r.loss, reference.loss, equal_nan=True)
        assert (r.status, r.stop_step) == (reference.status, reference.stop_step)


def test_a_first_search_of_a_pair_runs_one_at_a_time_while_its_batch_kernel_loads(
    monkeypatch,
):
    """A process that has not loaded a pair's batch kernel (~4 s to compile, ~0.5 s to load)
    answers ``run_settings`` through single runs, the same ends bit for bit, and loads the
    batch kernel on the compile thread for the calls after."""
    base = RunSpec(surface="levy13", optimizer="Adamax", steps=300)
    specs = [base.with_(hyperparameters={"lr": float(lr)}) for lr in np.geomspace(1e-3, 1e3, 24)]
    numba_engine.warm_settings(specs)
    reference = numba_engine.run_settings(specs)  # through the batch kernel, loaded above
    fresh = _fresh_kernels(base, monkeypatch)
    assert not fresh.batch_final_each.signatures
    singles = []
    real_run = numba_engine.run
    monkeypatch.setattr(numba_engine, "run", lambda s: singles.append(s) or real_run(s))
    first = numba_engine.run_settings(specs)
    assert len(singles) == len(specs)
    background.wait(timeout=120)
    stats = fresh.batch_final_each.stats  # loaded from the disk cache, on the compile thread
    assert (sum(stats.cache_hits.values()), sum(stats.cache_misses.values())) == (1, 0)
    second = numba_engine.run_settings(specs)
    assert len(singles) == len(specs)  # no single run more: the batch kernel took them
    for got in (first, second):
        for field in ("final", "final_loss", "status", "stop_step"):
            np.testing.assert_array_equal(getattr(got, field), getattr(reference, field))
    assert {int(s) for s in reference.status} == {0, 2}  # runs that diverge and ones that do not


def test_the_compile_thread_takes_each_kernel_once():
    calls = []
    release = threading.Event()

    def kernel(x):
        release.wait(10)
        calls.append(x)

    jobs = [background.compile_later(kernel, k) for k in range(5)]
    release.set()
    background.wait(timeout=10)
    assert calls == [0] and all(job is jobs[0] for job in jobs)


def test_warm_work_covers_the_default_race_every_lesson_and_every_interpreter():
    pairs = {(s.surface, s.optimizer, s.sam_rho > 0) for _, s in warm.work()}
    configs = [LabConfig(), *(config_from_lesson(lesson) for lesson in LESSONS.values())]
    for spec in (s for c in configs for s in c.specs()):
        assert (spec.surface, spec.optimizer, spec.sam_rho > 0) in pairs
    updates = {(s.surface, s.optimizer_def.update, s.sam_rho > 0) for _, s in warm.work()}
    for opt in OPTIMIZERS.values():
        assert {("custom", opt.update, False), ("custom", opt.update, True)} <= updates
    assert warm.work()[0][1].surface == LabConfig().surface  # the default race first


_RUN_WITHOUT_COMPILING = """
import json
from optim_core.engines import numba_engine, warm
from optim_core.engines.prepare import prepare
out = []
for kind, spec in warm.work():
    if kind == "run":
        numba_engine.warm_up([spec])
        p = prepare(spec)
        stats = numba_engine._kernels(p, p.sam_rho > 0.0).trajectory.stats
        out.append([spec.surface, spec.optimizer, sum(stats.cache_hits.values()),
                    sum(stats.cache_misses.values())])
import numpy as np
from common import xmath
xmath.inverse_one_minus_powers(np.full((3, 1), 0.5), np.arange(1.0, 5.0))
stats = xmath._running_powers_rows.stats
out.append(["a search's batch", "powers", sum(stats.cache_hits.values()),
            sum(stats.cache_misses.values())])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_after_the_warm_command_every_first_visit_kernel_loads_without_compiling():
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_DEBUG")}
    done = subprocess.run(
        [sys.executable, "-m", "optim_core.engines.warm"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=900, check=True,
    )  # fmt: skip
    assert "compiled or loaded in" in done.stdout
    checked = subprocess.run(
        [sys.executable, "-c", _RUN_WITHOUT_COMPILING], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    rows = json.loads(checked.stdout.strip().splitlines()[-1])
    assert rows
    for surface, optimizer, hits, misses in rows:
        assert (hits, misses) == (1, 0), f"{surface}/{optimizer}: {hits} loads, {misses} compiles"


def test_a_pair_module_is_generated_under_an_ascii_locale(tmp_path, monkeypatch):
    """The kernel template has non-ASCII text (∇f(θ)); reading and writing it with the
    locale's encoding failed under LC_CTYPE=C (a test before it had set that locale)."""
    import locale

    from common import modules
    from optim_core.engines import codegen

    monkeypatch.setattr(modules.numba.config, "CACHE_DIR", str(tmp_path))
    before = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        assert locale.getpreferredencoding(False).lower() in {"ansi_x3.4-1968", "ascii"}
        update = OPTIMIZERS["SGD"].update
        surface = SURFACES["booth"]
        module = codegen._pair_module.__wrapped__(surface.f, surface.grad, update, 9, 0, 0, 1)
    finally:
        locale.setlocale(locale.LC_CTYPE, before)
    assert "θ" in pathlib.Path(module.__file__).read_text(encoding="utf-8")


def test_kernels_cache_in_the_projects_folder_when_numba_was_imported_first():
    """Numba reads NUMBA_CACHE_DIR when it is imported: a program that imported numba before
    the project had every kernel decorated before its next compile cached beside its source
    file (keyed on that file alone: a stale kernel after an edit elsewhere), and generated
    pair modules written to the temporary folder."""
    script = (
        "import numba, os\n"
        "from optim_core.engines import numba_engine\n"
        "from optim_core.engines.prepare import prepare\n"
        "from optim_core.spec import RunSpec\n"
        "p = prepare(RunSpec(surface='rastrigin', optimizer='Adam', steps=3))\n"
        "kernels = numba_engine._kernels(p, False)\n"
        "print(os.environ['NUMBA_CACHE_DIR'])\n"
        "print(kernels.__file__)\n"
        "print(kernels.grad.stats.cache_path)\n"
        "print(kernels.batch_final_each.stats.cache_path)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    folder, *paths = done.stdout.split()
    assert "optim-lab" in folder
    for path in paths:
        assert path.startswith(folder), (path, folder)
