"""The race as data for a page that animates it itself (the app's race chart).

A Plotly figure with frames resends every path in every frame: 0.8 MB for the default race
and 2.5 MB for 6 racers x 5,000 steps, on every rerun. Here the figure holds the final state
without any frame or path, and each run's positions travel once, as float32; the page draws
frame k from them (its path up to step k, in full, and its marker) and so sends a tenth of
the bytes and can show every frame.

The page follows ``Run.index`` and ``viz.race._marker_state`` for where a run is at a step;
a browser test compares its frames with ``race_figure``'s.
"""

import base64
from collections.abc import Sequence

import numpy as np
from plotly.io.json import to_json_plotly

from landscapes.surfaces import Surface
from optim_core.trajectory import Trajectory

from . import palette
from .race import FRAME_MS, play_steps, race_scene

# The page's own controls sit under the figure, so it needs no room for Plotly's.
BOTTOM_MARGIN = 45


def race_payload(
    surface: Surface,
    args: tuple = (),
    runs: Sequence[tuple[str, Trajectory]] = (),
    *,
    start: tuple[float, float] | None = None,
    frames: int = 120,
    height: int = 600,
    domain=None,
) -> dict:
    """JSON-ready data: ``figure`` (a JSON string: the race at its final state, paths
    empty, the surface image's source left out), ``image`` (that source: the surface as a
    PNG data URI, which a page may serve as a file instead) and ``play`` (what animates:
    see the module docstring)."""
    scene = race_scene(surface, args, runs, start=start, height=height, domain=domain)
    for i in scene.paths:  # drawn by the page from ``play``
        scene.data[i] = {**scene.data[i], "x": [], "y": []}
    scene.layout["margin"] = {**scene.layout["margin"], "b": BOTTOM_MARGIN}
    steps = play_steps(scene.end, frames) if scene.runs else np.zeros(1, np.int64)
    play = {
        "steps": steps.tolist(),
        "frame_ms": FRAME_MS,
        "paths": scene.paths,
        "markers": scene.markers,
        "cursors": scene.cursors,
        "diverged_symbol": palette.DIVERGED_SYMBOL,
        "runs": [_run(r) for r in scene.runs],
    }
    image = scene.layout["images"][0].pop("source")
    return {"figure": to_json_plotly({"data": scene.data, "layout": scene.layout}),
            "image": image, "play": play}  # fmt: skip


def _run(r) -> dict:
    """A run as the page needs it: positions up to where it stops or its last finite one
    (x, y interleaved, little-endian float32, base64), those two steps, and its marker."""
    xy = np.ascontiguousarray(r.xy[: min(r.last, r.end) + 1], dtype="<f4")
    blown = int(r.traj.stop_step) if r.traj.diverged else -1
    return {
        "xy": base64.b64encode(xy.tobytes()).decode("ascii"),
        "last": r.last,
        "end": r.end,
        "blown_at": blown,
        "symbol": r.symbol,
    }
