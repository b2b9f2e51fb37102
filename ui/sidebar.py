"""The sidebar: widgets in, a LabConfig out (plain values; nothing here computes a run)."""

import json

import numpy as np
import streamlit as st

from common.limits import MAX_FORMULA_CHARS, MAX_LABEL_CHARS, MAX_RACERS, MAX_STEPS
from common.params import Pair, Sequence
from landscapes import CUSTOM, SURFACES, resolve_surface
from optim_core.config import DEFAULT_RACERS, LabConfig, Racer, split_warmup, warmup_schedule
from optim_core.optimizers import OPTIMIZERS, check_hyperparameters
from optim_core.previews import schedule_curves
from optim_core.schedules import REQUIRED, SCHEDULES
from optim_core.share import parse_json_object
from optim_core.spec import freeze, thaw_dict
from viz import PREVIEW_CONFIG, schedule_preview

from .text import plain
from .widgets import has_widget, param_widget, seed

# What ＋ Add races: each optimizer with settings that make visible progress on the built-in
# surfaces in 500 steps (tests/test_add_racer.py). Steps of the adaptive methods scale
# with lr, so their lr scales with the domain's width (the default Rosenbrock's is 4); SGD's
# stable lr depends on the curvature, not the width.
ADD_SETTINGS = {
    "SGD": {"lr": 1e-3, "momentum": 0.9},
    "Adagrad": {"lr": 0.5},
    "RMSprop": {"lr": 0.01},
    "Adadelta": {"lr": 10.0},
    "Adam": {"lr": 0.05},
    "AdamW": {"lr": 0.05},
    "NAdam": {"lr": 0.05},
    "RAdam": {"lr": 0.003},
    "Adamax": {"lr": 0.05},
    "Lion": {"lr": 0.01},
}
_SCALE_FREE = ("SGD",)
_REFERENCE_WIDTH = 4.0

# A schedule whose parameters have no widget (SequentialLR's list of phases) is edited as
# JSON; the others get one control per parameter.


def load(config: LabConfig) -> None:
    """Put a configuration into the widgets (a lesson, a shared link), replacing theirs."""
    config = config.normalised()
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(("w.", "r"))]:
        if key.startswith("w.") or key[1:2].isdigit():
            del st.session_state[key]
    state = st.session_state
    state["w.surface"] = config.surface
    if config.formula:
        state["w.formula"] = config.formula
        state["w.domain"] = config.domain
    for name, value in config.surface_params:
        state[f"w.sp.{config.surface}.{name}"] = value
    state["w.start_x"], state["w.start_y"] = config.start
    state["w.steps"], state["w.noise"], state["w.seed"] = config.steps, config.noise, config.seed
    state["w.view"] = config.view
    load_racers(config.racers, "r")


def load_racer_setting(i: int, spec, *, new: bool = False) -> None:
    """Queue ``spec``'s optimizer settings and lr schedule (SAM radius included) for racer
    ``i``, or for a new racer after the others when ``new``; applied on the next run. The
    racer keeps the name it was given."""
    if new:
        i = st.session_state.get(_count_key("r"), i)
        st.session_state[_count_key("r")] = i + 1
    label = "" if new else st.session_state.get(f"r{i}.label", "")
    st.session_state["pending.racer"] = (
        i,
        Racer(spec.optimizer, spec.hyperparameters, spec.schedule, spec.schedule_params,
              label, spec.sam_rho),
    )  # fmt: skip


def apply_pending() -> None:
    """Apply a queued whole race (a loaded file) or racer setting (a clicked map cell),
    before the widgets of this run exist."""
    race = st.session_state.pop("pending.config", None)
    if race:
        load(race)
    pending = st.session_state.pop("pending.racer", None)
    if pending:
        _load_racer(*pending)


def load_racers(racers, prefix: str) -> None:
    """Put ``racers`` into the racer widgets under ``prefix`` (each mode has its own)."""
    st.session_state[_count_key(prefix)] = len(racers)
    for i, racer in enumerate(racers):
        _load_racer(i, racer, prefix)


def _count_key(prefix: str) -> str:
    return "w.n_racers" if prefix == "r" else f"{prefix}.n_racers"


def _load_racer(i: int, racer: Racer, prefix: str = "r") -> None:
    state = st.session_state
    p = f"{prefix}{i}"
    state[f"{p}.optimizer"] = racer.optimizer
    state[f"{p}.label"] = racer.label
    state[f"{p}.sam"] = racer.sam_rho
    h = check_hyperparameters(racer.optimizer, thaw_dict(racer.hyperparameters))
    for param in OPTIMIZERS[racer.optimizer].params:
        _set(
            param,
            f"{p}.{racer.optimizer}.{param.name}",
            h[param.name],
        )
    name, params, warmup, factor = split_warmup(racer.schedule, thaw_dict(racer.schedule_params))
    state[f"{p}.schedule"] = name
    state[f"{p}.warmup"] = warmup > 0
    state[f"{p}.warmup_steps"] = warmup or 50
    state[f"{p}.warmup_factor"] = factor
    if not _has_widgets(name):
        state[f"{p}.{name}.json"] = json.dumps(params)
        return
    for param in SCHEDULES[name].params:
        if param.name in params:
            _set(param, f"{p}.{name}.{param.name}", params[param.name])


def _set(param, key, value) -> None:
    if isinstance(param.constraint, Pair):
        st.session_state[f"{key}.0"], st.session_state[f"{key}.1"] = value
    elif isinstance(param.constraint, Sequence):
        st.session_state[key] = ", ".join(str(v) for v in value)
    else:
        st.session_state[key] = value


def next_racer(racers: list[Racer], surface) -> Racer:
    """The racer ＋ Add brings: the first registry optimizer not yet racing (so its path is
    not a copy of another's), with starting settings scaled to ``surface``'s domain."""
    racing = {r.optimizer for r in racers}
    name = next((n for n in OPTIMIZERS if n not in racing), next(iter(OPTIMIZERS)))
    h = check_hyperparameters(name, ADD_SETTINGS.get(name, {}))
    if surface is not None and name not in _SCALE_FREE:
        (x0, x1), (y0, y1) = surface.domain
        h["lr"] = float(f"{h['lr'] * max(x1 - x0, y1 - y0) / _REFERENCE_WIDTH:.2g}")
    return Racer(name, freeze(check_hyperparameters(name, h)))


def render() -> LabConfig:
    """Draw the sidebar and return what it says (validation happens in LabConfig.specs)."""
    sb = st.sidebar
    surface_name = sb.selectbox(
        "Surface", [*SURFACES, CUSTOM], key="w.surface", format_func=_surface_title
    )
    formula, domain = _custom_inputs(sb) if surface_name == CUSTOM else ("", None)
    try:
        surface = resolve_surface(surface_name, formula, domain)
    except ValueError as err:
        sb.error(plain(err), icon=":material/error:")
        surface = None
    if surface is not None:
        sb.caption(plain(surface.lesson))
    surface_params = {
        p.name: param_widget(p, f"w.sp.{surface_name}.{p.name}", p.default, container=sb)
        for p in (surface.params if surface else ())
    }
    start = _start_inputs(sb, surface.starts[0] if surface else (0.0, 0.0))
    seed("w.steps", 500)
    steps = int(sb.number_input("Steps", min_value=1, max_value=MAX_STEPS, step=100, key="w.steps"))
    with sb.expander("Gradient noise (mini-batch)", expanded=False):
        seed("w.noise", 0.0)
        noise = float(
            st.number_input("noise std", min_value=0.0, key="w.noise", format="%g", step=0.1)
        )
        seed("w.seed", 0)
        noise_seed = int(st.number_input("seed", min_value=0, key="w.seed", step=1))
    racers = racer_inputs(sb, steps, "r", DEFAULT_RACERS, surface)
    seed("w.view", "2d")
    view = sb.radio("View", ("2d", "3d"), key="w.view", horizontal=True, format_func=str.upper)
    return LabConfig(
        surface=surface_name,
        surface_params=freeze(surface_params),
        formula=formula,
        domain=domain,
        start=start,
        steps=steps,
        noise=noise,
        seed=noise_seed,
        racers=tuple(racers),
        view=view,
        lesson=st.session_state.get("lesson", ""),
    )


def _surface_title(name: str) -> str:
    return "Your own formula…" if name == CUSTOM else SURFACES[name].title


def _custom_inputs(sb):
    seed("w.formula", "x^2 + 3*y^2 + sin(3*x)")
    formula = sb.text_input("f(x, y) =", key="w.formula", max_chars=MAX_FORMULA_CHARS)
    seed("w.domain", ((-3.0, 3.0), (-3.0, 3.0)))
    (x0, x1), (y0, y1) = st.session_state["w.domain"]
    # Widgets for the four bounds live under their own keys; "w.domain" is what a link or a
    # lesson loads, so a loaded non-square domain survives.
    seed("w.domain.x", f"{x0:g}, {x1:g}")
    seed("w.domain.y", f"{y0:g}, {y1:g}")
    left, right = sb.columns(2)
    xs = left.text_input("x range", key="w.domain.x", help="x0, x1 of the plotted domain")
    ys = right.text_input("y range", key="w.domain.y", help="y0, y1 of the plotted domain")
    return formula, (_bounds(xs), _bounds(ys))


def _bounds(text: str):
    parts = [p.strip() for p in text.split(",")]
    try:
        return tuple(float(p) for p in parts)
    except ValueError:
        return text  # the formula's domain check reports it with the allowed form


def _start_inputs(sb, start) -> tuple[float, float]:
    seed("w.start_x", start[0])
    seed("w.start_y", start[1])
    sb.markdown("**Start** (or click the surface)")
    left, right = sb.columns(2)
    x = left.number_input("x₀", key="w.start_x", format="%g", step=0.1)
    y = right.number_input("y₀", key="w.start_y", format="%g", step=0.1)
    return (float(x), float(y))


def racer_inputs(sb, steps: int, prefix: str = "r", defaults=(), surface=None) -> list[Racer]:
    """The racers' widgets under ``prefix``; ``defaults`` fill them on the first draw."""
    count = _count_key(prefix)
    if count not in st.session_state:
        load_racers(defaults, prefix)
    sb.subheader("Optimizers")
    racers = []
    for i in range(st.session_state[count]):
        with sb.expander(f"Racer {i + 1}", expanded=i == 0):
            racers.append(_racer(i, steps, prefix))
    add, remove = sb.columns(2)
    # Material icons, not "＋"/"－" glyphs: Debian's default fonts draw those as empty boxes.
    if add.button(
        "Add", icon=":material/add:", disabled=len(racers) >= MAX_RACERS, width="stretch",
        key=f"{prefix}.add",
    ):  # fmt: skip
        _load_racer(len(racers), next_racer(racers, surface), prefix)
        st.session_state[count] += 1
        st.rerun()
    if remove.button(
        "Remove", icon=":material/remove:", disabled=len(racers) <= 1, width="stretch",
        key=f"{prefix}.remove",
    ):  # fmt: skip
        st.session_state[count] -= 1
        st.rerun()
    return racers


def _racer(i: int, steps: int, prefix: str) -> Racer:
    key = f"{prefix}{i}"
    seed(f"{key}.optimizer", "Adam")
    seed(f"{key}.label", "")
    label = st.text_input(
        "name", key=f"{key}.label", placeholder=f"{i + 1}. optimizer", max_chars=MAX_LABEL_CHARS
    )
    name = st.selectbox("optimizer", list(OPTIMIZERS), key=f"{key}.optimizer")
    opt = OPTIMIZERS[name]
    h = {p.name: param_widget(p, f"{key}.{name}.{p.name}", p.default) for p in opt.params}
    seed(f"{key}.schedule", "none")
    schedule = st.selectbox("lr schedule", list(SCHEDULES), key=f"{key}.schedule")
    entry = SCHEDULES[schedule]
    if _has_widgets(schedule):
        defaults = entry.ui_defaults(steps, h["lr"])
        params = {}
        for p in entry.params:
            value = defaults.get(p.name, p.default)
            if value is None or value is REQUIRED:
                continue
            params[p.name] = param_widget(p, f"{key}.{schedule}.{p.name}", value)
    else:
        seed(f"{key}.{schedule}.json", json.dumps(entry.ui_defaults(steps, h["lr"])))
        text = st.text_area(f"{schedule} (JSON)", key=f"{key}.{schedule}.json", height=120)
        try:
            params = parse_json_object(text)
        except ValueError as err:
            st.caption(f"⚠ {schedule}: {plain(err)}")
            params = {}
    seed(f"{key}.warmup", False)
    if entry.warmup_ok and st.toggle("warm-up first (LinearLR)", key=f"{key}.warmup"):
        seed(f"{key}.warmup_steps", max(1, steps // 10))
        seed(f"{key}.warmup_factor", 0.01)
        w_steps = int(
            st.number_input("warm-up steps", min_value=1, step=1, key=f"{key}.warmup_steps")
        )
        factor = float(
            st.number_input("start_factor", key=f"{key}.warmup_factor", format="%g", step=0.01)
        )
        schedule, params = warmup_schedule(schedule, params, w_steps, factor)
    seed(f"{key}.sam", 0.0)
    sam = float(
        st.number_input(
            "SAM ρ (0: off)", min_value=0.0, key=f"{key}.sam", format="%g", step=0.01,
            help="sharpness-aware minimisation around this optimizer (Foret et al., 2021): "
            "each step takes the gradient at θ + ρ g/|g|",
        )
    )  # fmt: skip
    _preview(key, name, h, schedule, params, steps)
    return Racer(name, freeze(h), schedule, freeze(params), label, sam)


def _has_widgets(schedule: str) -> bool:
    return all(has_widget(p) for p in SCHEDULES[schedule].params)


def _preview(key: str, optimizer: str, h: dict, schedule: str, params: dict, steps: int) -> None:
    """The schedule's lr (and momentum) curve right under its parameters; none for a flat one
    (each chart costs the rerun ~15 ms, and a flat line says no more than the lr field)."""
    try:
        figure = _preview_figure(optimizer, freeze(h), schedule, freeze(params), steps)
    except ValueError as err:
        st.caption(f"⚠ {plain(err)}")
        return
    if figure is None:
        return
    st.plotly_chart(figure, config=PREVIEW_CONFIG, width="stretch", key=f"{key}.preview")


@st.cache_resource(max_entries=64, show_spinner=False)
def _preview_figure(optimizer: str, h: tuple, schedule: str, params: tuple, steps: int):
    # Cached by settings: moving the start or the surface redraws no preview.
    lr, momentum = schedule_curves(optimizer, thaw_dict(h), schedule, thaw_dict(params), steps)
    if all(_flat(c) for c in (lr, momentum) if c is not None):
        return None
    return schedule_preview(lr, momentum)


def _flat(curve: np.ndarray) -> bool:
    finite = curve[np.isfinite(curve)]
    return finite.size == 0 or finite.min() == finite.max()
