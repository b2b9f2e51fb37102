"""Streamlit widgets generated from the core's Param tables, so every optimizer, schedule and
surface parameter gets a control with torch's name, its help text and its allowed range."""

import math

import streamlit as st

from common.params import Interval, Options, Pair, Param, Sequence

# The tabs below the race run only while open (surface_page): a widget in one of them keeps
# its value while another tab is open only if it persists it (Streamlit drops the state of
# a widget that did not run).
KEEP = "page"


def seed(key: str, value) -> None:
    """Give a widget its starting value once; afterwards the widget owns it."""
    if key not in st.session_state:
        st.session_state[key] = value


def has_widget(param: Param) -> bool:
    """Whether :func:`param_widget` can draw ``param`` (a list of schedules cannot)."""
    return isinstance(param.constraint, Options | Pair | Sequence | Interval)


def param_widget(param: Param, key: str, value, *, container=st):
    """One control for ``param``; returns the value the user set (torch's types)."""
    c = param.constraint
    label = param.name
    if isinstance(c, Options) and all(isinstance(v, bool) for v in c.values):
        seed(key, bool(value))
        return container.checkbox(label, key=key, help=param.help)
    if isinstance(c, Options):
        seed(key, value)
        return container.selectbox(label, c.values, key=key, help=param.help)
    if isinstance(c, Pair):
        left, right = container.columns(2)
        first = _number(left, f"{label}[0]", f"{key}.0", value[0], c.first, param.help, 0.01)
        second = _number(right, f"{label}[1]", f"{key}.1", value[1], c.second, param.help, 0.001)
        return (first, second)
    if isinstance(c, Sequence):
        seed(key, ", ".join(str(v) for v in value))
        text = container.text_input(label, key=key, help=f"{param.help} (comma-separated)")
        return _parse_list(text, c.item.integer)
    if isinstance(c, Interval):
        return _number(container, label, key, value, c, param.help, _step(param.default))
    raise TypeError(f"no widget for {param.name}: {c!r}")


def _number(container, label, key, value, interval: Interval, help_text, step):
    if interval.integer:
        seed(key, int(value))
        lo = int(interval.low) if math.isfinite(interval.low) else None
        hi = int(interval.high) if math.isfinite(interval.high) else None
        return int(
            container.number_input(
                label, min_value=lo, max_value=hi, step=1, key=key, help=help_text
            )
        )
    seed(key, float(value))
    # Bounds are left to validation (open intervals cannot be expressed as min/max), which
    # reports a bad value with the allowed range instead of silently clamping it.
    # The step is fixed per parameter: a widget whose arguments change would be reset.
    return float(container.number_input(label, key=key, format="%g", step=step, help=help_text))


def _step(value) -> float:
    if not isinstance(value, int | float) or value == 0 or not math.isfinite(value):
        return 0.01
    # a float: an int step (10 ** 1 for a default of 25.0) makes Streamlit's field an integer
    # one, which would round a loaded 6.12 to 6
    return 10.0 ** math.floor(math.log10(abs(value)))


def _parse_list(text: str, integer: bool):
    items = [s.strip() for s in text.split(",") if s.strip()]
    try:
        return [int(float(s)) if integer else float(s) for s in items]
    except ValueError:
        return text  # validation downstream reports it with the allowed form
