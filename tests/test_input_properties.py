"""Every input path, fed anything: a valid result or a ValueError that names the parameter,
never another exception (RunSpec fields, lesson files, widget values through AppTest)."""

import json
import math
import pathlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from optim_core.lessons import lesson_from_dict
from optim_core.optimizers import OPTIMIZERS
from optim_core.schedules import SCHEDULES
from optim_core.spec import RunSpec

APP = str(pathlib.Path(__file__).resolve().parents[1] / "app.py")
LEAKS = ("argument after", "object is not", "Exceeds the limit", "NoneType", "not iterable",
         "has no attribute", "unhashable", "object of type")  # fmt: skip

ATOMS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30) | st.just(2**63) | st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["Adam", "SGD", "StepLR", "OneCycleLR", "custom", "rosenbrock", "x^2+y^2"]),
)
VALUES = st.recursive(
    ATOMS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "lr",
                    "momentum",
                    "betas",
                    "step_size",
                    "name",
                    "schedulers",
                    "milestones",
                    "kappa",
                    "T_0",
                ]
            ),
            inner,
            max_size=3,
        )
    ),  # fmt: skip
    max_leaves=8,
)
FIELDS = ["surface", "optimizer", "hyperparameters", "schedule", "schedule_params",
          "surface_params", "start", "steps", "noise", "seed", "tol", "formula", "domain",
          "label"]  # fmt: skip


def clean(err: ValueError) -> None:
    text = str(err)
    assert text and not any(leak in text for leak in LEAKS), text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=5))
def test_any_runspec_fields_give_a_spec_or_a_clear_value_error(data):
    try:
        spec = RunSpec.from_dict(data)
    except ValueError as err:
        clean(err)
        return
    assert spec.optimizer in OPTIMIZERS and spec.schedule in SCHEDULES
    assert all(math.isfinite(v) for v in spec.start)


LESSON = {
    "id": "x",
    "title": "A lesson",
    "watch": "Look here. Then there.",
    "surface": "rosenbrock",
    "start": [-1.0, 1.0],
    "steps": 50,
    "runs": [{"label": "a", "optimizer": "Adam", "hyperparameters": {"lr": 0.01}}],
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*LESSON, "formula", "domain", "noise"]), VALUES,
                       max_size=4))  # fmt: skip
def test_any_lesson_file_loads_or_names_what_is_wrong(changes):
    data = json.loads(json.dumps({**LESSON, **changes}, default=str))
    try:
        lesson = lesson_from_dict(data)
    except ValueError as err:
        clean(err)
        return
    assert lesson.specs()


WIDGETS = {
    "r0.SGD.lr": st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 5),
    "w.steps": st.integers(-10, 20_000),
    "w.start_x": st.floats(allow_nan=True, allow_infinity=True),
    "w.formula": st.text(max_size=40) | st.sampled_from(["x^2+y^2", "min(x,y)", "1/x", "exp(x)"]),
    "r1.Adam.betas.0": st.floats(-2, 2),
    "w.noise": st.floats(min_value=0, max_value=1e6),
}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.fixed_dictionaries({}, optional=WIDGETS), st.booleans())
def test_any_widget_values_rerun_without_a_traceback(values, custom):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if custom:
        at.session_state["w.surface"] = "custom"
    for key, value in values.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
