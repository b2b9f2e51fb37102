"""Bad input is rejected at the boundary (RunSpec) with one clear message; good input round-trips.

The invalid-value tables are generated from the registries' constraint tables, so a new
optimizer, surface or parameter is tested without editing this file.
"""

import json
import math

import numpy as np
import pytest

from common.params import (
    BOOL,
    FLOAT_NONNEG,
    FLOAT_POS,
    INT_NONNEG,
    INT_POS,
    UNIT_CLOSED,
    UNIT_OPEN_RIGHT,
    Interval,
    Options,
    Pair,
    Param,
    Sequence,
    lookup,
    validate,
)
from landscapes import SURFACES
from optim_core.optimizers import OPTIMIZERS
from optim_core.schedules import SCHEDULES
from optim_core.spec import RunSpec
from tests.test_optimizers import random_hyperparameters
from tests.test_schedules import DRAWS


def shown(value) -> tuple[str, ...]:
    """How a bad value may appear in a message: its repr (a tuple also as the list JSON makes)."""
    if isinstance(value, tuple):
        return (repr(value), repr(list(value)))
    return (repr(value),)


def assert_names(err: pytest.ExceptionInfo, *parts: str, value=None) -> None:
    message = str(err.value)
    for part in parts:
        assert part in message, f"{part!r} missing from {message!r}"
    if value is not None:
        assert any(s in message for s in shown(value)), f"{value!r} missing from {message!r}"


# ---- 1. every parameter of every registry entry rejects its invalid example ---------------

OPTIMIZER_PARAMS = [
    pytest.param(name, p, id=f"{name}-{p.name}")
    for name, opt in OPTIMIZERS.items()
    for p in opt.params
]


@pytest.mark.parametrize(("name", "param"), OPTIMIZER_PARAMS)
def test_every_hyperparameter_rejects_its_invalid_example(name, param):
    bad = param.constraint.invalid_example()
    with pytest.raises(ValueError) as err:
        RunSpec(optimizer=name, hyperparameters=((param.name, bad),))
    assert_names(err, name, repr(param.name), value=bad)
    with pytest.raises(ValueError) as err:  # the same through the dict / JSON boundary
        RunSpec.from_dict({"optimizer": name, "hyperparameters": {param.name: bad}})
    assert_names(err, name, repr(param.name), value=bad)


def test_tuple_value_is_shown_as_given():
    with pytest.raises(ValueError, match=r"got \(-1\.0, 0\.5\)"):
        RunSpec(optimizer="Adam", hyperparameters=(("betas", (-1.0, 0.5)),))


SURFACE_PARAMS = [
    pytest.param(name, p, id=f"{name}-{p.name}")
    for name, surface in SURFACES.items()
    for p in surface.params
]


def test_some_surface_has_parameters():
    assert SURFACE_PARAMS


@pytest.mark.parametrize(("name", "param"), SURFACE_PARAMS)
def test_every_surface_parameter_rejects_its_invalid_example(name, param):
    bad = param.constraint.invalid_example()
    with pytest.raises(ValueError) as err:
        RunSpec(surface=name, surface_params=((param.name, bad),))
    assert_names(err, name, repr(param.name), value=bad)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("steps", 0),
        ("steps", 10**9),
        ("steps", 1.5),
        ("steps", True),
        ("steps", "10"),
        ("noise", -1),
        ("noise", math.inf),
        ("noise", math.nan),
        ("seed", -1),
        ("seed", 1.5),
        ("tol", math.nan),
        ("tol", -1e-9),
        ("start", (math.nan, 0)),
        ("start", (0.0, math.inf)),
        ("start", (1,)),
        ("start", (1, 2, 3)),
        ("start", "ab"),
        ("start", (True, 0.0)),
        ("start", ("1", 0.0)),
    ],
)
def test_scalar_fields_reject_bad_values(field, bad):
    with pytest.raises(ValueError) as err:
        RunSpec(**{field: bad})
    assert_names(err, "run", repr(field), value=bad)
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({field: bad})
    assert_names(err, repr(field))


def test_integer_valued_floats_are_normalised():
    s = RunSpec(steps=20.0, seed=3.0, noise=1, tol=0)
    assert (s.steps, s.seed) == (20, 3) and type(s.steps) is int and type(s.seed) is int
    assert type(s.noise) is float and type(s.tol) is float
    assert s == RunSpec(steps=20, seed=3, noise=1.0, tol=0.0)


# ---- 2. the cases the issue names ---------------------------------------------------------


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_negative_lr_is_rejected(name):
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({"optimizer": name, "hyperparameters": {"lr": -0.1}})
    assert_names(err, name, "'lr'", "-0.1")


BETA_OPTIMIZERS = [n for n, o in OPTIMIZERS.items() if "betas" in o.defaults]


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, -0.1), (0.9, 1.0), (-0.1, 0.9), (0.9,)])
@pytest.mark.parametrize("name", BETA_OPTIMIZERS)
def test_betas_outside_unit_interval_are_rejected(name, betas):
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({"optimizer": name, "hyperparameters": {"betas": betas}})
    assert_names(err, name, "'betas'", "[0, 1)", value=betas)


def test_betas_inside_are_accepted_as_a_float_pair():
    assert len(BETA_OPTIMIZERS) >= 6
    s = RunSpec.from_dict({"optimizer": "Adam", "hyperparameters": {"betas": [0, 0.5]}})
    assert list(s.h["betas"]) == [0.0, 0.5] and all(type(b) is float for b in s.h["betas"])


@pytest.mark.parametrize(
    ("field", "bad", "registry"),
    [
        ("optimizer", "adam", OPTIMIZERS),
        ("optimizer", "", OPTIMIZERS),
        ("optimizer", ["Adam"], OPTIMIZERS),
        ("schedule", "cosine", SCHEDULES),
        ("schedule", None, SCHEDULES),
        ("surface", "Rosenbrock", SURFACES),
    ],
)
def test_unknown_names_list_the_valid_ones(field, bad, registry):
    with pytest.raises(ValueError) as err:
        RunSpec(**{field: bad})
    assert_names(err, f"unknown {field}", repr(bad), *registry)


@pytest.mark.parametrize(
    ("optimizer", "misspelt"),
    [("Adam", "learning_rate"), ("SGD", "beta"), ("Lion", "momentum"), ("Adagrad", "LR")],
)
def test_unknown_hyperparameter_lists_the_known_ones(optimizer, misspelt):
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({"optimizer": optimizer, "hyperparameters": {misspelt: 0.1}})
    assert_names(err, optimizer, repr(misspelt), *OPTIMIZERS[optimizer].defaults)


def test_unknown_surface_and_schedule_parameters_are_rejected():
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({"surface": "rosenbrock", "surface_params": {"kappa": 2.0}})
    assert_names(err, "rosenbrock", "'kappa'")
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({"schedule": "StepLR", "schedule_params": {"step": 3}})
    assert_names(err, "StepLR", "'step'", "step_size")


@pytest.mark.parametrize(
    "h",
    [
        {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
        {"nesterov": True, "momentum": 0.0},
        {"nesterov": True},
    ],
)
def test_nesterov_needs_momentum_and_no_dampening(h):
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict({"optimizer": "SGD", "hyperparameters": h})
    assert_names(err, "SGD", "nesterov", "dampening", "momentum")


def test_nesterov_with_momentum_is_fine():
    s = RunSpec.from_dict(
        {"optimizer": "SGD", "hyperparameters": {"nesterov": True, "momentum": 0.9}}
    )
    assert s.h["nesterov"] is True and s.h["dampening"] == 0.0


CYCLING = {
    "OneCycleLR": {"max_lr": 0.1, "total_steps": 500},
    "CyclicLR": {"base_lr": 1e-3, "max_lr": 1e-2},
}
NO_MOMENTUM = [n for n, o in OPTIMIZERS.items() if o.momentum is None]


@pytest.mark.parametrize("optimizer", NO_MOMENTUM)
@pytest.mark.parametrize("schedule", list(CYCLING))
def test_cycle_momentum_needs_an_optimizer_with_momentum(schedule, optimizer):
    data = {"optimizer": optimizer, "schedule": schedule, "schedule_params": CYCLING[schedule]}
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict(data)
    assert_names(err, schedule, "cycle_momentum", optimizer)
    off = {**CYCLING[schedule], "cycle_momentum": False}
    assert RunSpec.from_dict({**data, "schedule_params": off}).schedule == schedule


def test_adagrad_has_no_momentum():
    assert "Adagrad" in NO_MOMENTUM


# ---- 3. round trips -----------------------------------------------------------------------

SURFACE_DRAWS = {"bowl": lambda rng: {"kappa": float(10 ** rng.uniform(0, 6))}}
SEQUENTIAL_EXAMPLES = [
    {
        "schedulers": [
            {"name": "LinearLR", "start_factor": 0.1, "total_iters": 20},
            {"name": "CosineAnnealingLR", "T_max": 80},
        ],
        "milestones": [20],
    },
    {
        "schedulers": [
            {"name": "none"},
            {"name": "MultiStepLR", "milestones": [5, 9, 9]},
            {"name": "ExponentialLR", "gamma": 0.99},
        ],
        "milestones": [10, 40],
    },
]


def random_spec(draw: int) -> RunSpec:
    """A valid spec from a seeded draw over every optimizer, schedule and surface."""
    rng = np.random.default_rng(draw)
    optimizer = list(OPTIMIZERS)[draw % len(OPTIMIZERS)]
    schedule = sorted(SCHEDULES)[draw % len(SCHEDULES)]
    surface = sorted(SURFACES)[draw % len(SURFACES)]
    steps = int(rng.integers(1, 500))
    if schedule == "SequentialLR":
        schedule_params = SEQUENTIAL_EXAMPLES[draw % 2]
    elif schedule == "ReduceLROnPlateau":
        schedule_params = {"patience": int(rng.integers(0, 20)), "mode": "max", "factor": 0.5}
    else:
        schedule_params = DRAWS[schedule](rng, steps)
    if schedule in CYCLING and OPTIMIZERS[optimizer].momentum is None:
        schedule_params["cycle_momentum"] = False
    if schedule == "OneCycleLR":
        schedule_params["total_steps"] = max(schedule_params["total_steps"], steps)
    data = {
        "surface": surface,
        "optimizer": optimizer,
        "hyperparameters": random_hyperparameters(optimizer, rng),
        "schedule": schedule,
        "schedule_params": schedule_params,
        "surface_params": SURFACE_DRAWS.get(surface, lambda rng: {})(rng),
        "steps": steps,
        "noise": float(rng.choice([0.0, rng.uniform(0, 2)])),
        "seed": int(rng.integers(0, 2**31)),
        "tol": float(rng.choice([0.0, 1e-6, rng.uniform(0, 1e-3)])),
        "label": f"draw {draw}",
    }
    if rng.random() < 0.7:
        data["start"] = [float(rng.uniform(-3, 3)), float(rng.uniform(-3, 3))]
    return RunSpec.from_dict(data)


N_DRAWS = 3 * len(SCHEDULES)


def test_random_specs_cover_every_registry_entry():
    specs = [random_spec(d) for d in range(N_DRAWS)]
    assert {s.optimizer for s in specs} == set(OPTIMIZERS)
    assert {s.schedule for s in specs} == set(SCHEDULES)
    assert {s.surface for s in specs} == set(SURFACES)


@pytest.mark.parametrize("draw", range(N_DRAWS))
def test_json_round_trip(draw):
    s = random_spec(draw)
    text = s.to_json()
    json.loads(text)  # plain JSON
    back = RunSpec.from_json(text)
    assert back == s and hash(back) == hash(s)
    assert back.label == s.label
    assert back.to_json() == text
    assert RunSpec.from_dict(s.to_dict()) == s
    assert back.with_() == s


@pytest.mark.parametrize(
    ("short", "explicit"),
    [
        ({}, {"surface": "rosenbrock", "optimizer": "Adam", "schedule": "none", "steps": 500}),
        (
            {"optimizer": "Adam"},
            {
                "optimizer": "Adam",
                "hyperparameters": {
                    "lr": 1e-3,
                    "betas": (0.9, 0.999),
                    "eps": 1e-8,
                    "weight_decay": 0,
                    "amsgrad": False,
                },
            },
        ),
        (
            {"optimizer": "SGD", "hyperparameters": {"lr": 1}},
            {"optimizer": "SGD", "hyperparameters": {"lr": 1.0, "momentum": 0, "nesterov": False}},
        ),
        ({"surface": "bowl"}, {"surface": "bowl", "surface_params": {"kappa": 10}}),
        ({"surface": "bowl"}, {"surface": "bowl", "start": (-1.8, 1)}),
        (
            {"schedule": "StepLR", "schedule_params": {"step_size": 10}},
            {"schedule": "StepLR", "schedule_params": {"step_size": 10.0, "gamma": 0.1}},
        ),
        (
            {"schedule": "CyclicLR", "optimizer": "SGD", "schedule_params": CYCLING["CyclicLR"]},
            {
                "schedule": "CyclicLR",
                "optimizer": "SGD",
                "schedule_params": {**CYCLING["CyclicLR"], "step_size_down": 2000},
            },
        ),
        ({"noise": 0, "seed": 0, "tol": 1e-6}, {"label": "a label does not count"}),
    ],
)
def test_defaults_given_or_omitted_are_the_same_spec(short, explicit):
    a, b = RunSpec.from_dict(short), RunSpec.from_dict(explicit)
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1


def test_different_runs_are_different_specs():
    base = RunSpec()
    changes = [
        {"steps": 499},
        {"seed": 1},
        {"noise": 0.1},
        {"tol": 0.0},
        {"start": (0.0, 0.0)},
        {"hyperparameters": {"lr": 2e-3}},
        {"schedule": "ExponentialLR", "schedule_params": {"gamma": 0.99}},
        {"optimizer": "AdamW", "hyperparameters": {}},
        {"surface": "beale"},
    ]
    specs = {base, *(base.with_(**c) for c in changes)}
    assert len(specs) == len(changes) + 1


def test_with_changes_some_fields_and_validates():
    base = RunSpec.from_dict({"optimizer": "SGD", "hyperparameters": {"lr": 0.01}})
    s = base.with_(steps=10, start=(0.5, 0.25))
    assert (s.steps, s.start, s.lr, s.optimizer) == (10, (0.5, 0.25), 0.01, "SGD")
    assert base.steps == 500  # unchanged: specs are values
    s = base.with_(hyperparameters={"momentum": 0.9})
    assert s.h["momentum"] == 0.9 and s.lr == 1e-3  # the dict replaces the old one
    with pytest.raises(ValueError, match="'steps'"):
        base.with_(steps=0)
    with pytest.raises(ValueError, match="unknown field 'step'"):
        base.with_(step=10)


def test_specs_are_frozen():
    with pytest.raises(AttributeError):
        RunSpec().steps = 3


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"stepz": 10}, "'stepz'"),
        ({"steps": 10, "learning_rate": 0.1}, "'learning_rate'"),
        ({"hyperparameters": [("lr", 0.1)]}, "'hyperparameters' must be a mapping"),
        ({"hyperparameters": "lr=0.1"}, "'hyperparameters' must be a mapping"),
        ({"schedule_params": [1, 2]}, "'schedule_params' must be a mapping"),
        ({"surface_params": 3.0}, "'surface_params' must be a mapping"),
    ],
)
def test_from_dict_rejects_unknown_fields_and_non_mappings(data, named):
    with pytest.raises(ValueError) as err:
        RunSpec.from_dict(data)
    assert_names(err, "run", named)


def test_from_json_rejects_bad_documents():
    with pytest.raises(ValueError):
        RunSpec.from_json('{"steps": 0}')
    with pytest.raises(ValueError):  # json.JSONDecodeError is a ValueError
        RunSpec.from_json("{not json")


# ---- 4. common.params ---------------------------------------------------------------------

INTERVALS = [
    FLOAT_POS,
    FLOAT_NONNEG,
    UNIT_OPEN_RIGHT,
    UNIT_CLOSED,
    INT_POS,
    INT_NONNEG,
    Interval(),
    Interval(high=5.0),
    Interval(high=5.0, closed="left"),
    Interval(-1.0, 1.0, "neither"),
    Interval(-1.0, 1.0, "right"),
    Interval(1.0, 1e6),
]


@pytest.mark.parametrize("constraint", [*INTERVALS, BOOL, Options(("min", "max"))])
def test_invalid_example_is_invalid(constraint):
    assert not constraint.contains(constraint.invalid_example())


def test_pair_and_sequence_invalid_examples_are_invalid():
    for constraint in (Pair(UNIT_OPEN_RIGHT, UNIT_CLOSED), Sequence(INT_POS)):
        assert not constraint.contains(constraint.invalid_example())


@pytest.mark.parametrize(
    ("interval", "inside", "outside"),
    [
        (FLOAT_POS, [1e-300, 1, 2.5, np.float64(3.0), np.int64(4)], [0, 0.0, -1, math.inf]),
        (FLOAT_NONNEG, [0, 0.0, 1e308], [-1e-300, -math.inf, math.inf]),
        (UNIT_OPEN_RIGHT, [0.0, 0.5, 0.999999], [1.0, -0.0001, 1]),
        (UNIT_CLOSED, [0, 1, 1.0], [1.0000001, -1e-9]),
        (INT_POS, [1, 2, 2.0, np.int64(7), 10**12], [0, 1.5, 0.0, -3]),
        (INT_NONNEG, [0, 0.0, 3], [-1, 0.5]),
        (Interval(-1.0, 1.0, "neither"), [-0.5, 0.0, 0.5], [-1.0, 1.0]),
        (Interval(-1.0, 1.0, "right"), [1.0, 0.0], [-1.0]),
        (Interval(high=5.0, closed="left"), [-1e308, 4.9], [5.0, 6.0]),
    ],
)
def test_interval_contains(interval, inside, outside):
    for v in inside:
        assert interval.contains(v), v
    for v in [*outside, math.nan, True, False, None, "1", [1], 1 + 0j]:
        assert not interval.contains(v), v


@pytest.mark.parametrize(
    ("interval", "text"),
    [
        (FLOAT_POS, "a float in (0, inf)"),
        (FLOAT_NONNEG, "a float in [0, inf)"),
        (UNIT_OPEN_RIGHT, "a float in [0, 1)"),
        (UNIT_CLOSED, "a float in [0, 1]"),
        (INT_POS, "an integer in [1, inf)"),
        (Interval(), "a float in [-inf, inf]"),
        (Interval(-1.5, 1e6, "right"), "a float in (-1.5, 1e+06]"),
    ],
)
def test_interval_describe(interval, text):
    assert interval.describe() == text


@pytest.mark.parametrize(
    ("interval", "example"),
    [
        (FLOAT_POS, 0.0),
        (FLOAT_NONNEG, -1.0),
        (INT_POS, 0),
        (Interval(high=5.0), 6.0),
        (Interval(high=5.0, closed="left"), 5.0),
    ],
)
def test_interval_invalid_example_values(interval, example):
    assert interval.invalid_example() == example


def test_unbounded_interval_invalid_example_is_nan():
    assert math.isnan(Interval().invalid_example())


def test_options():
    modes = Options(("min", "max"))
    assert modes.contains("min") and modes.contains("max")
    for v in ("MIN", "", None, 0, ["min"]):
        assert not modes.contains(v)
    assert modes.describe() == "one of 'min', 'max'"
    assert modes.invalid_example() == "not-an-option"
    assert BOOL.contains(True) and BOOL.contains(False)
    for v in (0, 1, 0.0, 1.0, "True", None, np.float64(1.0)):
        assert not BOOL.contains(v), v
    assert BOOL.describe() == "one of False, True"
    assert BOOL.invalid_example() == "yes"


def test_pair():
    betas = Pair(UNIT_OPEN_RIGHT, UNIT_OPEN_RIGHT)
    for v in [(0.9, 0.999), [0.0, 0.5], (0, 0)]:
        assert betas.contains(v), v
    for v in [(0.9,), (0.9, 0.99, 0.1), (1.0, 0.5), (0.5, 1.0), (math.nan, 0.5), "ab", 0.9,
              (True, 0.5), None, {0.9, 0.99}]:  # fmt: skip
        assert not betas.contains(v), v
    assert betas.describe() == "a pair (a float in [0, 1), a float in [0, 1))"
    assert betas.invalid_example() == (-1.0, 0.5)


def test_sequence():
    milestones = Sequence(INT_POS)
    for v in [[1], (3, 5), [2, 2, 9], [1, 2.0]]:
        assert milestones.contains(v), v
    for v in [[], (), [2, 1], [0, 1], [1.5], [1, math.nan], 3, "12", None, [True]]:
        assert not milestones.contains(v), v
    assert milestones.describe() == "a non-empty non-decreasing list of an integer in [1, inf)"
    assert milestones.invalid_example() == []


def test_param_check_normalises_and_reports():
    steps = Param("steps", 5, INT_POS)
    assert steps.check("x", 2.0) == 2 and type(steps.check("x", 2.0)) is int
    assert type(steps.check("x", np.int64(3))) is int
    lr = Param("lr", 1e-3, FLOAT_POS)
    assert lr.check("x", 1) == 1.0 and type(lr.check("x", 1)) is float
    assert Param("betas", (0.9, 0.99), Pair(UNIT_OPEN_RIGHT, UNIT_OPEN_RIGHT)).check(
        "x", [0, 0.5]
    ) == (0.0, 0.5)
    assert Param("milestones", (1,), Sequence(INT_POS)).check("x", [1.0, 3]) == (1, 3)
    assert Param("flag", False, BOOL).check("x", True) is True
    with pytest.raises(ValueError) as err:
        steps.check("owner", 1.5)
    assert str(err.value) == "owner: 'steps' must be an integer in [1, inf); got 1.5"


def test_validate_fills_defaults_and_rejects_unknown_names():
    table = (Param("lr", 0.1, FLOAT_POS), Param("momentum", 0.0, UNIT_OPEN_RIGHT))
    assert validate("opt", table, {}) == {"lr": 0.1, "momentum": 0.0}
    assert validate("opt", table, {"momentum": 0.5}) == {"lr": 0.1, "momentum": 0.5}
    with pytest.raises(ValueError) as err:
        validate("opt", table, {"mom": 0.5})
    assert str(err.value) == "opt: unknown parameter 'mom'; expected one of lr, momentum"
    with pytest.raises(ValueError, match=r"opt: 'lr' must be a float in \(0, inf\); got nan"):
        validate("opt", table, {"lr": math.nan})


def test_lookup_lists_sorted_names():
    registry = {"b": 1, "a": 2}
    assert lookup("thing", registry, "a") == 2
    with pytest.raises(ValueError) as err:
        lookup("thing", registry, "c")
    assert str(err.value) == "unknown thing 'c'; expected one of a, b"
    with pytest.raises(ValueError, match="unknown thing"):
        lookup("thing", registry, ["unhashable"])
