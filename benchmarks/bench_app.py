"""Server-side cost of one app rerun: 3 optimizers x 2000 steps, after warm-up.

Measured two ways: the pipeline a rerun runs (specs -> Numba runs, uncached -> race figure
-> JSON, the results table), and a whole Streamlit script run through AppTest after one
slider change (everything the server does except the websocket). Plus the figure's size.

And a new (surface, optimizer) pair, one the default race and the lessons do not use, in a
process like a server's (the default race's kernels loaded, a new Numba cache that holds
what the install-time warm command puts there for this optimizer): the seconds to its first
result, drawn through the optimizer's formula interpreter, then until its own kernel has
compiled on the background thread, and a run after that.
"""

import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from streamlit.testing.v1 import AppTest

from landscapes import get_surface
from optim_core import share
from optim_core.config import LabConfig, Racer
from optim_core.engines import numba_engine
from optim_core.report import results_rows
from optim_core.spec import freeze
from viz import race_figure

ROOT = pathlib.Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
RACE_FRAMES = 120  # as app.py
RACERS = (
    Racer("SGD", freeze({"lr": 1e-3, "momentum": 0.9})),
    Racer("Adam", freeze({"lr": 0.05}), "CosineAnnealingLR", freeze({"T_max": 2000})),
    Racer("RMSprop", freeze({"lr": 0.01})),
)


def pipeline_ms(repeats: int = 15):
    times, size = [], 0
    for i in range(repeats + 2):
        config = LabConfig(steps=2000, start=(-1.2 + 1e-4 * i, 1.0), racers=RACERS)
        began = time.perf_counter()
        specs = config.specs()
        runs = [(s.label, numba_engine.run(s)) for s in specs]
        surface = get_surface(config.surface)
        figure = race_figure(surface, (), runs, start=specs[0].start, max_frames=RACE_FRAMES)
        text = figure.to_json()
        results_rows(runs, surface)
        if i >= 2:  # the first two warm the kernels and the surface image
            times.append((time.perf_counter() - began) * 1e3)
        size = len(text)
    return statistics.median(times), size


def apptest_ms(repeats: int = 5):
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update(share.to_query(LabConfig(steps=2000, racers=RACERS)))
    at.run()
    times = []
    for i in range(repeats):
        at.session_state["w.start_x"] = -1.2 + 0.01 * (i + 1)
        began = time.perf_counter()
        at.run()
        times.append((time.perf_counter() - began) * 1e3)
        assert not at.exception, at.exception
    return statistics.median(times)


NEW_PAIR = ("levy13", "Adamax")  # in neither the default race nor any lesson

# What the warm command compiles that this measurement meets: the default race (loaded as the
# app's first page does) and the new pair's optimizer's interpreter (a formula run).
_SETUP = """
from optim_core.config import LabConfig
from optim_core.engines import numba_engine
from optim_core.spec import RunSpec
numba_engine.warm_up([*LabConfig().specs(),
                      RunSpec(surface="custom", formula="x^2 + y^2", optimizer=%r, steps=2)])
"""
_NEW_PAIR = """
import json, time
from optim_core.config import LabConfig
from optim_core.engines import background, numba_engine
from optim_core.spec import RunSpec
numba_engine.warm_up(LabConfig().specs())
spec = RunSpec(surface=%r, optimizer=%r, steps=500)
began = time.perf_counter()
numba_engine.run(spec)
first = time.perf_counter() - began
background.wait()
compiled = time.perf_counter() - began
began = time.perf_counter()
numba_engine.run(spec.with_(start=(0.5, 0.5)))
print(json.dumps([first, compiled, time.perf_counter() - began]))
"""


def new_pair_seconds() -> tuple[float, float, float]:
    """(first result, own kernel compiled, a run after that) for ``NEW_PAIR``, in a fresh
    process on a new Numba cache (see the module docstring)."""
    surface, optimizer = NEW_PAIR
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for code in (_SETUP % optimizer, _NEW_PAIR % (surface, optimizer)):
            done = subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                check=True,
            )  # fmt: skip
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


def main(quick: bool = False):
    pipeline, size = pipeline_ms(5 if quick else 15)
    script = apptest_ms(2 if quick else 5)
    first, compiled, after = new_pair_seconds()
    print("One rerun, 3 optimizers x 2000 steps (median, after warm-up):")
    print(f"  pipeline (runs + race figure + JSON + table): {pipeline:7.1f} ms   target < 150 ms")
    print(f"  whole script through AppTest, tabs included:  {script:7.1f} ms")
    print(f"  race figure JSON: {size / 1e6:.2f} MB   target < 2 MB")
    print(f"New pair ({'/'.join(NEW_PAIR)}, 500 steps) in a fresh server-like process:")
    print(f"  first result, through the formula interpreter: {first:6.2f} s   target <= 1 s")
    print(f"  its own kernel compiled in the background after {compiled:6.2f} s")
    print(f"  a run after that:                               {after * 1e3:6.2f} ms")
    return {
        "pipeline_ms": pipeline,
        "script_ms": script,
        "json_bytes": size,
        "new_pair_s": (first, compiled, after),
    }
