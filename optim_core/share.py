"""Share links: a LabConfig as URL query parameters and back.

A link is untrusted input. Reading one never raises and never starts unbounded work: every
value is parsed with bounded size, depth and digits, validated by the same tables as the
widgets, and a rejected value keeps its default with a warning that names the parameter, the
allowed values and what the link held. Every configuration the sidebar can make round-trips.
"""

import json
from collections.abc import Mapping
from dataclasses import replace

from common.limits import MAX_JSON_DEPTH, MAX_RACERS, MAX_URL_VALUE_CHARS, STEPS
from common.params import FLOAT_NONNEG, INT_NONNEG, Options, Param, parse_number
from landscapes import CUSTOM

from .config import VIEWS, LabConfig, Racer
from .spec import freeze, thaw_dict

_VIEW = Param("view", "2d", Options(VIEWS), "2-D race or static 3-D surface")
_NOISE = Param("noise", 0.0, FLOAT_NONNEG, "gradient noise std")
_SEED = Param("seed", 0, INT_NONNEG, "seed of the gradient noise")
KNOWN = (
    "surface", "surface_params", "formula", "domain", "start", "steps", "noise", "seed",
    "racer", "view", "lesson",
)  # fmt: skip


def to_query(config: LabConfig) -> dict[str, str | list[str]]:
    """The query parameters of a link that reproduces ``config`` (defaults left out)."""
    query: dict[str, str | list[str]] = {
        "surface": config.surface,
        "steps": str(config.steps),
        "racer": [r.to_json() for r in config.racers],
    }
    if config.surface_params:
        query["surface_params"] = _json_text(thaw_dict(config.surface_params))
    if config.formula:
        query["formula"] = config.formula
    if config.domain is not None:
        query["domain"] = ",".join(repr(float(v)) for pair in config.domain for v in pair)
    if config.start is not None:
        query["start"] = f"{config.start[0]!r},{config.start[1]!r}"
    if config.noise:
        query["noise"] = repr(config.noise)
        query["seed"] = str(config.seed)
    if config.view != "2d":
        query["view"] = config.view
    if config.lesson:
        query["lesson"] = config.lesson
    return query


def from_query(query: Mapping[str, list[str]], lessons=()) -> LabConfig:
    """The configuration a link describes; never raises. ``lessons``: the known lesson ids.

    Values are applied one parameter at a time onto the defaults, each checked with the whole
    race (a start outside a custom domain is caught with the start), so one bad value costs
    only itself.
    """
    reader = _Reader(query)
    unknown = unknown_names(query, KNOWN)
    if unknown:
        reader.warn(f"URL parameters unknown here were ignored: {unknown}")
    surface = reader.first("surface")
    if surface != CUSTOM:
        for name in ("formula", "domain"):
            if reader.first(name) is not None:
                reader.warn(
                    f"URL parameter {name} ignored: it goes with surface=custom, "
                    f"not surface={_short(surface or LabConfig.surface)}"
                )
    reader.attempt("surface", _surface(reader))
    reader.attempt("surface_params", lambda s: {"surface_params": freeze(parse_json_object(s))})
    reader.attempt("start", lambda s: {"start": _numbers(s, 2, "x,y")})
    reader.attempt("steps", lambda s: {"steps": STEPS.check("steps", parse_number(s, False))})
    reader.attempt("noise", lambda s: {"noise": _NOISE.check("noise", parse_number(s, False))})
    reader.attempt("seed", lambda s: {"seed": _SEED.check("seed", parse_number(s, False))})
    reader.attempt_racers()
    reader.attempt("view", lambda s: {"view": _VIEW.check("view", s)}, check=False)
    lesson = reader.first("lesson")
    if lesson is not None:
        if lesson in lessons:
            reader.config = replace(reader.config, lesson=lesson)
        else:
            reader.warn(
                f"URL parameter lesson={_short(lesson)} ignored: no such lesson; "
                f"expected one of {', '.join(lessons)}"
            )
    return replace(reader.config, warnings=tuple(reader.warnings))


class _Reader:
    def __init__(self, query: Mapping[str, list[str]]):
        self.query = query
        self.config = LabConfig()
        self.warnings: list[str] = []

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def values(self, name: str) -> list[str]:
        values = self.query.get(name) or []
        return list(values) if isinstance(values, list | tuple) else [values]

    def first(self, name: str) -> str | None:
        values = self.values(name)
        return values[-1] if values else None

    def attempt(self, name: str, parse, check: bool = True) -> None:
        raw = self.first(name)
        if raw is None:
            return
        try:
            check_text(raw)
            candidate = replace(self.config, **parse(raw))
            if check:
                candidate.specs()
        except ValueError as err:
            self.warn(f"URL parameter {name}={_short(raw)} ignored: {err}")
            return
        self.config = candidate

    def attempt_racers(self) -> None:
        values = self.values("racer")
        if not values:
            return
        if len(values) > MAX_RACERS:
            self.warn(
                f"URL parameter racer: a race holds at most {MAX_RACERS} racers; the link has "
                f"{len(values)}, so only the first {MAX_RACERS} are kept"
            )
            values = values[:MAX_RACERS]
        racers = []
        for i, raw in enumerate(values, 1):
            try:
                check_text(raw)
                racer = Racer.from_dict(parse_json(raw))
                replace(self.config, racers=(racer,)).specs()
            except ValueError as err:
                self.warn(f"URL parameter racer #{i}={_short(raw)} ignored: {err}")
                continue
            racers.append(racer)
        if racers:
            self.config = replace(self.config, racers=tuple(racers))


def _surface(reader: _Reader):
    def parse(name: str) -> dict:
        if name != CUSTOM:
            return {"surface": name}
        domain = reader.first("domain")
        if domain is not None:
            check_text(domain)
            values = _numbers(domain, 4, "x0,x1,y0,y1")
            domain = ((values[0], values[1]), (values[2], values[3]))
        formula = reader.first("formula") or ""
        check_text(formula)
        return {"surface": name, "formula": formula, "domain": domain}

    return parse


def unknown_names(query: Mapping, known) -> str:
    """The names of ``query`` not in ``known``, listed once and cut short: a link with
    thousands of junk names gets one line, not thousands."""
    names = sorted((str(n) for n in set(query) - set(known)), key=str)
    shown = ", ".join(_short(n) for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def check_text(text: str) -> None:
    if len(text) > MAX_URL_VALUE_CHARS:
        raise ValueError(f"longer than {MAX_URL_VALUE_CHARS} characters ({len(text)})")


def _numbers(text: str, count: int, form: str) -> tuple[float, ...]:
    parts = text.split(",")
    if len(parts) != count:
        raise ValueError(f"expected {count} numbers '{form}'")
    return tuple(float(parse_number(p.strip(), False)) for p in parts)


def parse_json(text: str):
    """Parsed JSON with bounded nesting, no NaN/Infinity, and numbers within float range."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            parse_int=lambda s: parse_number(s, True),
            parse_float=lambda s: parse_number(s, False),
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as err:
        raise ValueError(f"not valid JSON ({err.msg} at character {err.pos})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a link may hold")


def parse_json_object(text: str) -> dict:
    value = parse_json(text)
    if not isinstance(value, dict):
        raise ValueError('expected a JSON object {"name": value, ...}')
    return value


def _json_text(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _short(raw) -> str:
    text = raw if isinstance(raw, str) else ",".join(map(str, raw))
    return repr(text if len(text) <= 60 else text[:57] + "...")
