"""Share links: reading one never raises, bounds the work, names each rejected value, and
every configuration the sidebar can make round-trips."""

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.limits import MAX_RACERS, MAX_STEPS
from optim_core import share
from optim_core.config import LabConfig, Racer, warmup_schedule
from optim_core.lessons import LESSONS
from optim_core.spec import freeze

LESSON_IDS = tuple(LESSONS)


def read(**query) -> LabConfig:
    return share.from_query({k: v if isinstance(v, list) else [v] for k, v in query.items()})


def only_warning(config: LabConfig, *words: str) -> str:
    assert len(config.warnings) == 1, config.warnings
    text = config.warnings[0]
    for word in words:
        assert word in text, text
    return text


# Python internals that must never reach a user.
LEAKS = ("Traceback", "argument after", "object is not", "Exceeds the limit", "NoneType",
         "not iterable", "has no attribute", "unhashable", "recursion")  # fmt: skip


def no_leaks(config: LabConfig) -> None:
    for text in config.warnings:
        assert not any(leak in text for leak in LEAKS), text


def test_deeply_nested_json_is_rejected_with_a_reason():
    config = read(racer="[" * 1500 + "]" * 1500)
    only_warning(config, "racer", "nested")
    config = read(surface_params='{"a":' * 600 + "1" + "}" * 600)
    only_warning(config, "surface_params", "nested")
    config = read(racer="[" * 100_000 + "]" * 100_000)
    only_warning(config, "racer", "longer than")


@pytest.mark.parametrize(
    "racer",
    [
        "[1, 2]",
        '{"optimizer": "SGD", "hyperparameters": [1, 2]}',
        '{"optimizer": 3}',
        '{"optimizer": "SGD", "schedule_params": 5}',
        '{"optimizer": "SGD", "hyperparameters": {"lr": [1]}}',
        '{"optimizer": "SGD", "hyperparameters": {"lr": {"a": 1}}}',
        '{"label": 7}',
    ],
)
def test_a_racer_of_the_wrong_shape_is_rejected_with_a_reason(racer):
    config = read(racer=racer)
    only_warning(config, "racer")
    no_leaks(config)
    assert config.racers == LabConfig().racers


@pytest.mark.parametrize(
    "name, value",
    [
        ("steps", "1" + "0" * 400),
        ("noise", "1e400"),
        ("noise", "nan"),
        ("noise", "inf"),
        ("steps", "١٠٠"),  # Arabic-Indic digits: float() would take them
        ("steps", "１００"),  # fullwidth digits
        ("start", "1e999,0"),
        ("seed", "9" * 5000),
        ("racer", '{"optimizer": "SGD", "hyperparameters": {"lr": 1' + "0" * 5000 + "}}"),
        ("racer", '{"optimizer": "SGD", "hyperparameters": {"lr": 1e999}}'),
        ("racer", '{"optimizer": "SGD", "hyperparameters": {"lr": NaN}}'),
    ],
)
def test_numbers_must_be_finite_in_range_and_ascii(name, value):
    config = read(**{name: value})
    only_warning(config, name)
    no_leaks(config)


def test_hundreds_of_racers_are_cut_to_the_limit_with_a_message():
    racer = Racer.from_dict({"optimizer": "SGD", "hyperparameters": {"lr": 0.01}}).to_json()
    began = time.perf_counter()
    config = read(racer=[racer] * 800, steps="2000")
    assert time.perf_counter() - began < 5  # bounded: it once took minutes
    only_warning(config, "racer", str(MAX_RACERS), "800")
    assert len(config.racers) == MAX_RACERS


@pytest.mark.parametrize("steps", ["0", str(MAX_STEPS + 1), "100000", "-5", "2.5"])
def test_steps_outside_the_widget_range_are_rejected(steps):
    config = read(steps=steps)
    only_warning(config, "steps", str(MAX_STEPS))
    assert config.steps == LabConfig().steps


@pytest.mark.parametrize("steps", ["1", "5", str(MAX_STEPS)])
def test_steps_inside_the_range_are_kept(steps):
    assert read(steps=steps).steps == int(steps)


def test_formula_or_domain_without_a_custom_surface_is_reported():
    only_warning(read(surface="rosenbrock", formula="x^2"), "formula", "custom")
    only_warning(read(domain="-1,1,-1,1"), "domain", "custom")


def test_an_unknown_lesson_is_reported():
    config = share.from_query({"lesson": ["no-such-lesson"]}, lessons=LESSON_IDS)
    only_warning(config, "lesson", "no-such-lesson", "warmup")
    assert config.lesson == ""


def test_a_known_lesson_is_kept():
    config = share.from_query({"lesson": ["warmup"]}, lessons=LESSON_IDS)
    assert config.lesson == "warmup" and not config.warnings


def test_control_characters_in_a_name_never_reach_the_exported_script():
    racer = json.dumps({"optimizer": "SGD", "label": "a\x00b\nc\u202ed"})
    config = read(racer=racer)
    assert not config.warnings
    label = config.racers[0].label
    assert label == "ab cd"
    from optim_core.export import to_pytorch

    compile(to_pytorch(config.specs()), "<export>", "exec")


def test_a_custom_formula_round_trips():
    config = LabConfig(
        surface="custom", formula="x^2 + 3*y^2", domain=((-2.0, 4.0), (-1.0, 1.5)), start=(1.0, 1.0)
    ).normalised()
    back = share.from_query({k: v if isinstance(v, list) else [v]
                             for k, v in share.to_query(config).items()})  # fmt: skip
    assert not back.warnings
    assert back.normalised() == config


SCHEDULE_CHOICES = [
    ("none", {}),
    ("StepLR", {"step_size": 30, "gamma": 0.5}),
    ("CosineAnnealingLR", {"T_max": 100}),
    ("InverseTimeLR", {"decay_rate": 0.1}),
]


@pytest.mark.parametrize("name, params", SCHEDULE_CHOICES)
@pytest.mark.parametrize("warmup", [0, 25])
def test_every_schedule_with_or_without_warmup_round_trips(name, params, warmup):
    schedule, params = warmup_schedule(name, params, warmup, 0.1) if warmup else (name, params)
    racer = Racer("SGD", freeze({"lr": 0.01}), schedule, freeze(params))
    config = LabConfig(racers=(racer,)).normalised()
    back = read(**share.to_query(config))
    assert not back.warnings, back.warnings
    assert back.normalised() == config


def test_split_warmup_keeps_what_it_did_not_make():
    from optim_core.config import split_warmup

    made = warmup_schedule("none", {}, 20, 0.1)
    assert split_warmup(*made) == ("none", {}, 20, 0.1)
    other = {
        "schedulers": [{"name": "LinearLR", "start_factor": 0.1, "end_factor": 0.5,
                        "total_iters": 20}, {"name": "none"}],
        "milestones": [20],
    }  # fmt: skip
    assert split_warmup("SequentialLR", other) == ("SequentialLR", other, 0, 0.01)


# Any text in any parameter: never an exception, never an internal message, always a race.
TEXT = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"-?[0-9]{0,500}(\.[0-9]*)?(e-?[0-9]{1,4})?", fullmatch=True),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=10)),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["optimizer", "hyperparameters", "lr", "schedule", "label", "x"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    ).map(lambda v: json.dumps(v, allow_nan=True)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*share.KNOWN, "junk"]), st.lists(TEXT, min_size=1,
       max_size=3), max_size=5))  # fmt: skip
def test_any_query_reads_without_an_exception(query):
    config = share.from_query(query, lessons=LESSON_IDS)
    no_leaks(config)
    specs = config.specs()  # what was kept is a valid race
    assert 1 <= len(specs) <= MAX_RACERS
    assert all(1 <= s.steps <= MAX_STEPS for s in specs)


def test_thousands_of_unknown_names_make_one_warning():
    config = share.from_query({f"junk{i}": ["1"] for i in range(3000)})
    assert len(config.warnings) == 1 and "2995 more" in config.warnings[0]


def test_a_model_link_value_too_long_is_rejected_with_a_reason():
    from optim_core.models.setup import ModelSetup

    setup = ModelSetup.from_query({"mode": ["model"], "racer": ["[" + "1," * 3000 + "1]"]})
    assert len(setup.warnings) == 1 and "longer than" in setup.warnings[0]
