"""optim-lab: race optimizers on a surface from the command line and save the race.

examples:
  optim-lab race --surface rastrigin --optimizer Adam:lr=0.05 \\
      --optimizer SGD:lr=0.01,momentum=0.9 --schedule none \\
      --schedule OneCycleLR:max_lr=0.1 --steps 500 --start -1,1 --out race.gif
  optim-lab race --formula "x**2 + 10*y**2" --domain -2,2,-2,2 --out bowl.mp4
  optim-lab lesson one-cycle --out one-cycle.html
  optim-lab lessons
  optim-lab replay race.json --out race.png

A racer is NAME[:key=value,...]; the n-th --schedule and --label go with the n-th
--optimizer. Values are numbers (0.05, 1e-3, 30), true/false, JSON lists or objects
(betas=[0.9,0.99]) or words (anneal_strategy=linear), checked by the same tables as the
app's widgets and links, with the same messages. The format follows the extension of --out:
.gif .mp4 (video), .html (the app's figure, plays offline), .png, .csv, .json (reloads).

Exit status: 0 written, 1 the file could not be written, 2 bad arguments.
"""

import argparse
import os
import re
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from common.limits import STEPS
from common.params import lookup, parse_number
from landscapes import CUSTOM

from .config import DEFAULT_RACERS, LabConfig, Racer
from .optimizers import check_hyperparameters
from .schedules import SCHEDULES
from .share import parse_json
from .spec import RunSpec, freeze, thaw_dict

PROG = "optim-lab"
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER_START = re.compile(r"[+-]?[0-9.]")
# Options whose value may start with a minus, which argparse would take for an option.
_SIGNED = ("--start", "--domain")


class UsageError(ValueError):
    """A bad argument: reported with exit status 2."""


@dataclass
class Race:
    specs: list[RunSpec]
    runs: list  # (label, Trajectory) pairs
    title: str

    @property
    def scene(self) -> tuple:
        """(surface, surface arguments, runs): what every figure and video takes first."""
        first = self.specs[0]
        return first.surface_def, tuple(v for _, v in first.surface_params), self.runs

    @property
    def start(self) -> tuple[float, float]:
        return self.specs[0].start


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (never raises SystemExit)."""
    parser = _parser()
    argv = _join_signed(sys.argv[1:] if argv is None else list(argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or argparse's own usage errors (2)
        return int(exit_.code or 0)
    try:
        return args.command(args)
    except ValueError as err:  # UsageError, or the app's text from RunSpec, LabConfig, a file
        return _fail(str(err), 2)
    except OSError as err:
        return _fail(f"cannot write {args.out}: {err.strerror or err}", 1)


def _fail(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


_Verbatim = argparse.RawDescriptionHelpFormatter  # the examples keep their lines
_ITEM = "NAME[:k=v,...]"
_RACE_OPTIONS = {
    "--surface": {"metavar": _ITEM, "help": "surface and its parameters (default rosenbrock)"},
    "--formula": {"help": "your own surface f(x, y), e.g. 'x**2 + 10*y**2'"},
    "--domain": {"metavar": "X0,X1,Y0,Y1", "help": "plotting domain of --formula"},
    "--optimizer": {"action": "append", "default": [], "metavar": _ITEM,
                    "help": "one racer, e.g. Adam:lr=0.05 (repeat; default SGD, Adam, RMSprop)"},
    "--schedule": {"action": "append", "default": [], "metavar": _ITEM,
                   "help": "lr schedule of the n-th racer, e.g. OneCycleLR:max_lr=0.1, or none"},
    "--label": {"action": "append", "default": [], "help": "name of the n-th racer"},
    "--steps": {"metavar": "N", "help": "optimizer steps (default 500)"},
    "--start": {"metavar": "X,Y", "help": "start of every racer (default: the surface's)"},
    "--noise": {"help": "std of Gaussian noise added to each gradient"},
    "--seed": {"help": "seed of the gradient noise"},
}  # fmt: skip
_OUTPUT_OPTIONS = {
    "--out": {"required": True, "help": "file to write: .gif .mp4 .html .png .csv .json"},
    "--frames": {"default": "120", "help": "frames of a .gif, .mp4 or .html"},
    "--size": {"default": "600", "help": "width and height of a .gif or .mp4 (px)"},
    "--progress": {"action": argparse.BooleanOptionalAction,
                   "help": "progress bar on stderr (default: on a terminal)"},
}  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n")[0], epilog=f"'{PROG} COMMAND --help' for more"
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    race = commands.add_parser("race", help="race optimizers on a surface and save it",
                               description=__doc__, formatter_class=_Verbatim)  # fmt: skip
    lesson = commands.add_parser("lesson", help="save a lesson's race")
    lesson.add_argument("name", help="lesson id (see 'optim-lab lessons')")
    lessons = commands.add_parser("lessons", help="list the lessons")
    replay = commands.add_parser("replay", help="run a race saved as .json again and save it")
    replay.add_argument("file", help="a race saved with --out NAME.json")
    for name, options in _RACE_OPTIONS.items():
        race.add_argument(name, **options)
    for command in (race, lesson, replay):
        for name, options in _OUTPUT_OPTIONS.items():
            command.add_argument(name, **options)
    race.set_defaults(command=_race_command)
    lesson.set_defaults(command=_lesson_command)
    lessons.set_defaults(command=_lessons_command, out=None)
    replay.set_defaults(command=_replay_command)
    return parser


def _join_signed(argv: list[str]) -> list[str]:
    """``--start -1,1`` as ``--start=-1,1``: argparse reads ``-1,1`` as an unknown option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _SIGNED and i + 1 < len(argv) and argv[i + 1][:1] == "-":
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _race_command(args) -> int:
    _check_output(args)
    return _save(_race(config_from_args(args).specs(), args), args)


def _lesson_command(args) -> int:
    from .lessons import LESSONS

    _check_output(args)
    lesson = lookup("lesson", LESSONS, args.name)
    return _save(_race(lesson.specs(), args, lesson.title), args)


def _lessons_command(args) -> int:
    from .lessons import LESSONS

    width = max(map(len, LESSONS))
    for key, lesson in LESSONS.items():
        print(f"{key:<{width}}  {lesson.title}")
    return 0


def _replay_command(args) -> int:
    from .exports import specs_from_json

    _check_output(args)
    try:
        text = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {args.file}: {err}") from None
    return _save(_race(specs_from_json(text), args), args)


def config_from_args(args) -> LabConfig:
    """The race the options describe (validated when its specs are made)."""
    count = len(args.optimizer) or len(DEFAULT_RACERS)
    for option, values in (("--schedule", args.schedule), ("--label", args.label)):
        if len(values) > count:
            raise UsageError(
                f"{len(values)} {option} options for {count} racers: "
                f"the n-th {option} goes with the n-th --optimizer"
            )
    steps = STEPS.check("run", _number("--steps", args.steps, True, LabConfig.steps))
    racers = [_racer(text) for text in args.optimizer] or list(DEFAULT_RACERS)
    for i, schedule in enumerate(args.schedule):
        racers[i] = _with_schedule(racers[i], schedule, steps)
    for i, label in enumerate(args.label):
        racers[i] = replace(racers[i], label=label)
    surface, surface_params = parse_item("--surface", args.surface or "")
    if args.formula is not None and not args.surface:
        surface = CUSTOM
    return LabConfig(
        surface=surface or LabConfig.surface,
        surface_params=freeze(surface_params),
        formula=args.formula or "",
        domain=_numbers("--domain", args.domain, 4, "x0,x1,y0,y1", pairs=True),
        start=_numbers("--start", args.start, 2, "x,y"),
        steps=steps,
        noise=_number("--noise", args.noise, False, LabConfig.noise),
        seed=_number("--seed", args.seed, True, LabConfig.seed),
        racers=tuple(racers),
    )


def _racer(text: str) -> Racer:
    name, params = parse_item("--optimizer", text)
    return Racer(name, freeze(params))


def _with_schedule(racer: Racer, text: str, steps: int) -> Racer:
    """``racer`` with the schedule ``text``; parameters not given start where the app's
    widgets start (OneCycleLR's total_steps = the race's steps, ...)."""
    name, given = parse_item("--schedule", text)
    lr = check_hyperparameters(racer.optimizer, thaw_dict(racer.hyperparameters))["lr"]
    params = lookup("schedule", SCHEDULES, name).ui_defaults(steps, lr) | given
    return replace(racer, schedule=name, schedule_params=freeze(params))


def parse_item(option: str, text: str) -> tuple[str, dict]:
    """``NAME[:key=value,...]`` as (name, {key: value}); commas inside [] or {} belong to
    the value."""
    name, _, rest = text.partition(":")
    params = {}
    for item in _split(rest) if rest.strip() else []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"{option} {text!r}: expected name=value; got {item!r}")
        try:
            params[key.strip()] = parse_value(value.strip())
        except ValueError as err:
            raise UsageError(f"{option} {text!r}: {key.strip()}: {err}") from None
    return name.strip(), params


def _split(text: str) -> list[str]:
    items, depth, current, quoted = [], 0, [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "[{":
            depth += 1
        elif not quoted and char in "]}":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def parse_value(text: str):
    """A value typed after ``key=``: JSON list/object/string, true/false, a number, a word."""
    if text[:1] in '[{"':
        return parse_json(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if _NUMBER_START.match(text):
        return parse_number(text, integer=bool(_INTEGER.fullmatch(text)))
    return text


def _number(option: str, text: str | None, integer: bool, default):
    if text is None:
        return default
    try:
        return parse_number(text, integer)
    except ValueError as err:
        raise UsageError(f"{option}: {err}") from None


def _numbers(option: str, text: str | None, count: int, form: str, pairs: bool = False):
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != count:
        raise UsageError(f"{option}: expected {count} numbers {form}; got {text!r}")
    values = tuple(_number(option, p, False, None) for p in parts)
    return (values[:2], values[2:]) if pairs else values


def _check_output(args) -> None:
    """Options of the file to write, checked before any work is done."""
    from viz.video import FRAMES, SIZE

    suffix = Path(args.out).suffix.lower()
    if suffix not in _WRITERS:
        raise UsageError(
            f"--out {args.out!r}: unknown format {suffix or '(none)'!r}; "
            f"expected one of {', '.join(_WRITERS)}"
        )
    args.frames = FRAMES.check("--frames", _number("--frames", args.frames, True, None))
    args.size = SIZE.check("--size", _number("--size", args.size, True, None))
    if args.progress is None:
        args.progress = sys.stderr.isatty()


def _race(specs: list[RunSpec], args, title: str = "") -> Race:
    from .engines import numba_engine

    bar = ProgressBar("running", enabled=args.progress)
    runs = []
    for i, spec in enumerate(specs):
        bar(i, len(specs))
        runs.append((spec.label, numba_engine.run(spec)))
    bar(len(specs), len(specs))
    bar.close()
    return Race(specs, runs, title or specs[0].surface_def.title)


def _save(race: Race, args) -> int:
    path = Path(args.out)
    suffix = path.suffix.lower()
    bar = ProgressBar(f"writing {path.name}", enabled=args.progress)
    # Written next to the target and renamed: a failure never leaves half a file behind.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        _WRITERS[suffix](tmp, race, args, bar)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's file is private; the output is not
        os.replace(tmp, path)
    finally:
        bar.close()
        if os.path.exists(tmp):
            os.remove(tmp)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0


def _write_video(tmp: str, race: Race, args, bar) -> None:
    from viz import video

    write = video.write_gif if tmp.endswith(".gif") else video.write_mp4
    write(tmp, *race.scene, frames=args.frames, size=args.size, start=race.start, progress=bar)


def _write_figure(tmp: str, race: Race, args, bar) -> None:
    from viz import html_export, race_figure, video

    fig = race_figure(*race.scene, start=race.start, max_frames=args.frames)
    if tmp.endswith(".html"):
        html_export.write_html(tmp, fig, f"optim-lab: {race.title}")
        return
    try:
        html_export.write_png(tmp, fig)
    except html_export.PngUnavailable as err:
        print(f"{PROG}: {err}; writing a still of the last frame instead", file=sys.stderr)
        video.write_still(tmp, *race.scene, size=args.size, start=race.start)


def _write_data(tmp: str, race: Race, args, bar) -> None:
    from . import exports

    write = exports.race_csv if tmp.endswith(".csv") else exports.race_json
    Path(tmp).write_text(write([traj for _, traj in race.runs]), encoding="utf-8")


_WRITERS = {".gif": _write_video, ".mp4": _write_video, ".html": _write_figure,
            ".png": _write_figure, ".csv": _write_data, ".json": _write_data}  # fmt: skip


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ProgressBar:
    """``label [#####.....] done/total`` rewritten in place on stderr."""

    WIDTH = 30

    def __init__(self, label: str, enabled: bool):
        self.label, self.enabled = label, enabled
        self.shown: int | None = None  # the bar's filled length on screen

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        filled = self.WIDTH * done // max(total, 1)
        if self.shown == filled and done < total:
            return  # redrawn only when it grows: a log file gets a few lines, not thousands
        bar = "#" * filled + "." * (self.WIDTH - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{total}")
        sys.stderr.flush()
        self.shown = filled

    def close(self) -> None:
        if self.shown is not None:
            sys.stderr.write("\n")
            self.shown = None


if __name__ == "__main__":
    sys.exit(main())
