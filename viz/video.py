"""The race as a GIF, an MP4 or a still: the surface drawn once, only the racers per frame.

Each frame is the surface of :func:`surface_image` (the same picture the app shows), the
minima, the start, a legend of the racers, and per racer its path so far and a marker (an ✕
once it has diverged), with the step in the corner. The static part is drawn once and
copied back before each frame (matplotlib blitting: ~4 ms for a 600² frame, where a full
draw takes ~35 ms).

GIFs are written by Pillow with one palette for all frames (the surface's colours plus the
racers' own) and no dithering: dithering makes every frame differ everywhere, so nothing
compresses, while with one palette a frame stores only the rectangle that changed. MP4s go
through imageio-ffmpeg (the ffmpeg binary ships inside its wheel), imported only for them.
"""

import base64
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from PIL import Image

from common.params import Interval, Param
from landscapes.surfaces import Surface
from optim_core.trajectory import Trajectory

from . import palette
from .race_parts import Run, path_stride
from .surface_image import surface_image

FRAMES = Param("frames", 120, Interval(2, 2000, integer=True), "frames in the animation")
SIZE = Param("size", 600, Interval(160, 2000, integer=True), "width and height in pixels")
FRAME_MS = 40  # a GIF counts in hundredths of a second: 40 ms = 25 frames per second
HOLD_MS = 2000  # the GIF rests on its last frame before it loops
PATH_POINTS = 800  # most points of a path drawn per frame (see race_parts.path_stride)
MP4_BLOCK = 8  # frame sides a multiple of this; imageio's default 16 resizes 600 to 608
# Flat colours and thin lines: "animation" suits them, and "veryfast" halves the encoding time
# of the default preset (0.5 s for 120 600² frames) at a smaller file (~75 KB).
_X264 = ["-preset", "veryfast", "-tune", "animation"]

# palette.SYMBOLS are Plotly's names; these are the same shapes in matplotlib.
_MARKERS = {"circle": "o", "square": "s", "diamond": "D", "triangle-up": "^", "pentagon": "p",
            "hexagon": "h", "star-square": "*"}  # fmt: skip
_DIVERGED_MARKER = "X"

Runs = Sequence[tuple[str, Trajectory]]
Progress = Callable[[int, int], None]  # (frames done, frames in all)


def race_frames(
    surface: Surface,
    args: tuple = (),
    runs: Runs = (),
    *,
    frames: int = FRAMES.default,
    size: int = SIZE.default,
    start: tuple[float, float] | None = None,
    domain=None,
) -> Iterator[np.ndarray]:
    """``frames`` RGB frames (``size`` × ``size`` × 3, uint8) of the race of ``runs``
    (``(label, trajectory)`` pairs), from step 0 to the step where the last racer stopped.

    Frames are evenly spread over the steps (a race shorter than ``frames`` steps repeats
    some). The array yielded is reused: copy it to keep it past the next frame.
    """
    frames = FRAMES.check("video", frames)
    size = SIZE.check("video", size)
    scene = _Scene(surface, args, runs, size, start, domain)
    for step in frame_steps(scene.end, frames):
        yield scene.frame(int(step))


def frame_steps(end: int, frames: int) -> np.ndarray:
    """The step each of ``frames`` frames shows: 0 to ``end``, evenly spread."""
    return np.round(np.linspace(0, end, frames)).astype(np.int64)


def write_gif(path_or_buffer, surface: Surface, args: tuple = (), runs: Runs = (), *,
              frames: int = FRAMES.default, size: int = SIZE.default, start=None, domain=None,
              progress: Progress | None = None) -> None:  # fmt: skip
    """The race as a looping GIF (one shared palette, no dithering; see the module doc)."""
    images, palette_image = [], None
    for i, rgb in enumerate(
        race_frames(surface, args, runs, frames=frames, size=size, start=start, domain=domain)
    ):
        frame = Image.fromarray(rgb)
        if palette_image is None:
            palette_image = _shared_palette(frame, runs)
        images.append(frame.quantize(palette=palette_image, dither=Image.Dither.NONE))
        _tick(progress, i + 1, frames)
    durations = [FRAME_MS] * (len(images) - 1) + [HOLD_MS]
    images[0].save(path_or_buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0, optimize=True)  # fmt: skip


def write_mp4(path_or_buffer, surface: Surface, args: tuple = (), runs: Runs = (), *,
              frames: int = FRAMES.default, size: int = SIZE.default, start=None, domain=None,
              fps: int = 1000 // FRAME_MS, progress: Progress | None = None) -> None:  # fmt: skip
    """The race as an H.264 MP4 (yuv420p, plays everywhere). ``size`` is rounded down to a
    multiple of 8, which the encoder needs."""
    import imageio.v2 as imageio  # only MP4 needs imageio and its ffmpeg

    size = SIZE.check("video", size) // MP4_BLOCK * MP4_BLOCK
    with tempfile.TemporaryDirectory() as tmp:
        # ffmpeg writes to a file name; a buffer gets the file's bytes afterwards.
        target = path_or_buffer if isinstance(path_or_buffer, str | os.PathLike) else None
        out = os.fspath(target) if target is not None else os.path.join(tmp, "race.mp4")
        writer = imageio.get_writer(out, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                    pixelformat="yuv420p", macro_block_size=MP4_BLOCK,
                                    ffmpeg_log_level="error", output_params=_X264)  # fmt: skip
        try:
            for i, rgb in enumerate(race_frames(surface, args, runs, frames=frames, size=size,
                                                start=start, domain=domain)):  # fmt: skip
                writer.append_data(rgb)
                _tick(progress, i + 1, frames)
        finally:
            writer.close()
        if target is None:
            with open(out, "rb") as f:
                shutil.copyfileobj(f, path_or_buffer)


def write_still(path_or_buffer, surface: Surface, args: tuple = (), runs: Runs = (), *,
                size: int = SIZE.default, start=None, domain=None) -> None:  # fmt: skip
    """The race's last frame as a PNG."""
    *_, last = race_frames(surface, args, runs, frames=2, size=size, start=start, domain=domain)
    Image.fromarray(last).save(path_or_buffer, format="PNG")


def _tick(progress: Progress | None, done: int, total: int) -> None:
    if progress is not None:
        progress(done, total)


def _shared_palette(frame: Image.Image, runs: Runs) -> Image.Image:
    """The first frame's colours (the surface, legend and text: nearly all a frame holds)
    in 256 - k entries, plus the k racers' colours exactly, so paths never change hue."""
    fixed = [palette.colour(i) for i in range(len(runs))]
    fixed += [palette.START_COLOUR, "#000000"]
    base = frame.quantize(colors=256 - len(fixed), method=Image.Quantize.MEDIANCUT)
    entries = base.getpalette()[: 3 * (256 - len(fixed))]
    entries += [int(c[i : i + 2], 16) for c in fixed for i in (1, 3, 5)]
    image = Image.new("P", (1, 1))
    image.putpalette(entries)
    return image


class _Scene:
    """A figure whose static part is drawn once; ``frame(step)`` draws only the racers."""

    def __init__(self, surface: Surface, args: tuple, runs: Runs, size: int, start, domain):
        dpi = 100
        self.fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.fig)
        ax = self.fig.add_axes((0.0, 0.0, 1.0, 1.0))
        ax.set_axis_off()
        image = surface_image(surface, args, domain, resolution=size)
        (x0, x1), (y0, y1) = image.x_range, image.y_range
        ax.imshow(_decode(image.png_data_uri), extent=(x0, x1, y0, y1), aspect="auto",
                  interpolation="nearest")  # fmt: skip
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        self.end = max((int(t.stop_step) for _, t in runs), default=0)
        stride = path_stride(self.end, PATH_POINTS)
        self.runs = [Run.of(i, label, t, stride) for i, (label, t) in enumerate(runs)]
        scale = size / 600  # sizes below look right at 600 px and scale with the frame
        self._static(ax, surface, start, scale)
        self.paths = [ax.plot([], [], color=r.colour, lw=2.2 * scale, animated=True,
                              solid_capstyle="round")[0] for r in self.runs]  # fmt: skip
        self.markers = [ax.plot([], [], ls="", color=r.colour, mec="black", mew=scale,
                                animated=True)[0] for r in self.runs]  # fmt: skip
        box = {"boxstyle": "round,pad=0.3", "fc": "white", "ec": "none", "alpha": 0.85}
        self.step_text = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=12 * scale,
                                 family="monospace", bbox=box, animated=True)  # fmt: skip
        self.ax, self.scale = ax, scale
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)

    def _static(self, ax, surface: Surface, start, scale: float) -> None:
        star = {"marker": "*", "ls": "", "mec": "black", "mew": 0.8 * scale}
        for points, face, size in ((surface.minima, palette.MINIMUM_COLOUR, 16),
                                   (surface.local_minima, "none", 12)):  # fmt: skip
            xy = np.asarray(points, dtype=np.float64).reshape(-1, 2)
            ax.plot(xy[:, 0], xy[:, 1], mfc=face, ms=size * scale, **star)
        starts = (
            [start] if start is not None else [tuple(r.xy[0]) for r in self.runs if r.last >= 0]
        )
        if starts:
            xy = np.asarray(starts, dtype=np.float64).reshape(-1, 2)
            ax.plot(xy[:, 0], xy[:, 1], "o", mfc=palette.START_COLOUR, mec="black",
                    ms=10 * scale, mew=1.5 * scale)  # fmt: skip
        handles = [
            Line2D([], [], color=r.colour, marker=_MARKERS[r.symbol], mec="black",
                   lw=2.2 * scale, ms=8 * scale, label=r.label)
            for r in self.runs
        ]  # fmt: skip
        if handles:
            ax.legend(handles=handles, loc="upper right", fontsize=10 * scale, framealpha=0.85,
                      title=surface.title, title_fontsize=10 * scale)  # fmt: skip

    def frame(self, step: int) -> np.ndarray:
        self.canvas.restore_region(self.background)
        for r, path, marker in zip(self.runs, self.paths, self.markers, strict=True):
            i = r.index(step)
            if i < 0:
                continue
            idx = np.arange(0, i + 1, r.stride)
            if idx[-1] != i:
                idx = np.append(idx, i)
            path.set_data(r.xy[idx, 0], r.xy[idx, 1])
            blown = r.traj.diverged and step >= r.traj.stop_step
            marker.set_data(r.xy[i : i + 1, 0], r.xy[i : i + 1, 1])
            marker.set_marker(_DIVERGED_MARKER if blown else _MARKERS[r.symbol])
            marker.set_markersize((13 if blown else 10) * self.scale)
            self.ax.draw_artist(path)
        for marker, r in zip(self.markers, self.runs, strict=True):
            if r.index(step) >= 0:
                self.ax.draw_artist(marker)
        self.step_text.set_text(f"step {step}")
        self.ax.draw_artist(self.step_text)
        return np.asarray(self.canvas.buffer_rgba())[:, :, :3]


def _decode(data_uri: str) -> np.ndarray:
    png = base64.b64decode(data_uri.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
