"""Copy as PyTorch: the generated script runs, uses only torch's public API, and lands where
the Numba engine lands for every optimizer and every kind of schedule (noise-free runs)."""

import ast
import contextlib
import io
import math

import numpy as np
import pytest
import torch

from landscapes import SURFACES, get_surface
from optim_core.engines import numba_engine
from optim_core.export import surface_source, to_pytorch
from optim_core.optimizers import OPTIMIZERS
from optim_core.schedules import SCHEDULES
from optim_core.spec import RunSpec, thaw_dict
from optim_core.trajectory import DIVERGED, STATUS_NAMES


def spec(optimizer="SGD", schedule="none", schedule_params=None, **h) -> RunSpec:
    """A 150-step noise-free run on Rosenbrock (tol 0: every step counts)."""
    return RunSpec.from_dict(
        {
            "surface": "rosenbrock",
            "start": [-1.2, 1.0],
            "steps": 150,
            "tol": 0.0,
            "optimizer": optimizer,
            "hyperparameters": h,
            "schedule": schedule,
            "schedule_params": schedule_params or {},
            "label": f"{optimizer} {schedule}",
        }
    )


OPTIMIZER_CASES = {
    "SGD-nesterov": spec("SGD", lr=1e-3, momentum=0.9, nesterov=True),
    "SGD-dampening-wd": spec("SGD", lr=1e-3, momentum=0.5, dampening=0.1, weight_decay=0.01),
    "Adagrad": spec("Adagrad", lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    "RMSprop-centered": spec("RMSprop", lr=1e-3, momentum=0.5, centered=True),
    "Adadelta": spec("Adadelta", lr=1.0, weight_decay=0.01),
    "Adam-amsgrad": spec("Adam", lr=0.01, amsgrad=True),
    "Adam-decoupled": spec("Adam", lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "Adam-no-bias-correction": spec("Adam", lr=0.01, bias_correction=False, amsgrad=True),
    "AdamW": spec("AdamW", lr=0.01, weight_decay=0.1),
    "AdamW-no-bias-correction": spec("AdamW", lr=0.01, weight_decay=0.1, bias_correction=False),
    "NAdam": spec("NAdam", lr=0.01, weight_decay=0.01, decoupled_weight_decay=True),
    "RAdam": spec("RAdam", lr=1e-3, betas=(0.8, 0.99)),
    "Adamax": spec("Adamax", lr=0.01, weight_decay=0.01),
    "Lion": spec("Lion", lr=1e-3, weight_decay=0.1),
}
SCHEDULE_CASES = {
    "StepLR": spec("SGD", "StepLR", {"step_size": 40, "gamma": 0.5}, lr=1e-3),
    "MultiStepLR": spec("SGD", "MultiStepLR", {"milestones": [30, 30, 80]}, lr=1e-3),
    "ConstantLR": spec("SGD", "ConstantLR", {"factor": 0.5, "total_iters": 20}, lr=1e-3),
    "LinearLR": spec("Adam", "LinearLR", {"start_factor": 0.1, "total_iters": 50}, lr=0.02),
    "ExponentialLR": spec("SGD", "ExponentialLR", {"gamma": 0.99}, lr=1e-3),
    "PolynomialLR": spec("Adam", "PolynomialLR", {"total_iters": 100, "power": 2.0}, lr=0.02),
    "CosineAnnealingLR": spec("Adam", "CosineAnnealingLR", {"T_max": 60}, lr=0.02),
    "CosineAnnealingWarmRestarts": spec(
        "Adam", "CosineAnnealingWarmRestarts", {"T_0": 20, "T_mult": 2, "eta_min": 1e-3}, lr=0.02
    ),
    "CyclicLR-SGD-momentum": spec(
        "SGD",
        "CyclicLR",
        {"base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 20, "mode": "triangular2"},
        lr=1e-3,
        momentum=0.9,
    ),
    "CyclicLR-Adam-betas": spec(
        "Adam",
        "CyclicLR",
        {"base_lr": 1e-3, "max_lr": 0.03, "step_size_up": 25, "mode": "exp_range", "gamma": 0.99},
        lr=0.01,
    ),
    "CyclicLR-Lion-betas": spec(
        "Lion", "CyclicLR", {"base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 30}, lr=1e-3
    ),
    "OneCycleLR-SGD": spec(
        "SGD", "OneCycleLR", {"max_lr": 2e-3, "total_steps": 150}, lr=1e-3, momentum=0.9
    ),
    "OneCycleLR-Adam-three-phase": spec(
        "Adam",
        "OneCycleLR",
        {"max_lr": 0.05, "total_steps": 200, "three_phase": True, "anneal_strategy": "linear"},
        lr=0.01,
    ),
    "SequentialLR-warmup-cosine": spec(
        "SGD",
        "SequentialLR",
        {
            "schedulers": [
                {"name": "LinearLR", "start_factor": 0.1, "total_iters": 30},
                {"name": "CosineAnnealingLR", "T_max": 120},
            ],
            "milestones": [30],
        },
        lr=2e-3,
        momentum=0.5,
    ),
    "SequentialLR-none-inverse-exponential": spec(
        "Adam",
        "SequentialLR",
        {
            "schedulers": [
                {"name": "none"},
                {"name": "InverseTimeLR", "decay_rate": 0.1, "decay_steps": 5, "staircase": True},
                {"name": "ExponentialLR", "gamma": 0.98},
            ],
            "milestones": [40, 90],
        },
        lr=0.02,
    ),
    "ReduceLROnPlateau": spec(
        "Adam", "ReduceLROnPlateau", {"patience": 2, "factor": 0.5, "threshold": 0.05}, lr=0.05
    ),
    "InverseTimeLR": spec("SGD", "InverseTimeLR", {"decay_rate": 0.05}, lr=1e-3),
}
OTHER_CASES = {
    "surface-parameters": RunSpec.from_dict(
        {
            "surface": "bowl",
            "surface_params": {"kappa": 50.0},
            "optimizer": "SGD",
            "hyperparameters": {"lr": 0.01, "momentum": 0.8},
            "start": [1.5, 1.5],
            "steps": 120,
            "label": 'label with "quotes", \\ and a\nnewline',
        }
    ),
    "diverges": spec("SGD", lr=1.0),
    "converges": RunSpec.from_dict(
        {"surface": "booth", "optimizer": "SGD", "hyperparameters": {"lr": 0.05}, "steps": 500}
    ),
}
SAM_CASES = {  # SAM around the optimizer: the script's two-gradient loop (sam_rho > 0)
    "SAM-SGD-nesterov": spec("SGD", lr=1e-3, momentum=0.9, nesterov=True).with_(sam_rho=0.05),
    "SAM-Adam-cosine": SCHEDULE_CASES["CosineAnnealingLR"].with_(sam_rho=0.1),
    "SAM-RMSprop-plateau": spec(
        "RMSprop", "ReduceLROnPlateau", {"patience": 3}, lr=3e-3, centered=True
    ).with_(sam_rho=0.08),
    "SAM-Lion": spec("Lion", lr=0.01, weight_decay=0.1).with_(sam_rho=0.05),
    # converged tests the plain gradient: a radius far under tol / λ lets the steps stop
    "SAM-converges": OTHER_CASES["converges"].with_(sam_rho=1e-9),
}
OTHER_CASES |= SAM_CASES
CASES = {**OPTIMIZER_CASES, **SCHEDULE_CASES, **OTHER_CASES}


def run_script(code: str) -> tuple[list[dict], str]:
    """Execute a generated script in a fresh namespace, as ``python script.py`` would."""
    namespace = {"__name__": "optim_lab_export"}
    exec(compile(code, "<optim-lab export>", "exec"), namespace)
    out = io.StringIO()
    previous = torch.get_default_dtype()
    try:
        with contextlib.redirect_stdout(out):
            results = namespace["main"]()
    finally:
        torch.set_default_dtype(previous)
    return results, out.getvalue()


def test_the_table_covers_every_optimizer_and_schedule():
    specs = list(CASES.values())
    assert {s.optimizer for s in specs} == set(OPTIMIZERS)
    kinds = {s.schedule for s in specs}
    for s in specs:
        if s.schedule == "SequentialLR":
            kinds |= {child["name"] for child in thaw_dict(s.schedule_params)["schedulers"]}
    assert kinds == set(SCHEDULES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_script_lands_where_the_numba_engine_lands(case):
    s = CASES[case]
    traj = numba_engine.run(s)
    [result], printed = run_script(to_pytorch([s]))
    np.testing.assert_allclose(result["position"], traj.final_position, rtol=1e-7, atol=1e-12)
    assert result["loss"] == pytest.approx(traj.final_loss, rel=1e-6, abs=1e-12)
    assert (result["status"], result["stop_step"]) == (STATUS_NAMES[traj.status], traj.stop_step)
    assert result["label"] == s.label and printed.startswith(s.label)


def test_the_table_exercises_what_it_claims():
    for case in (*OPTIMIZER_CASES, *SCHEDULE_CASES):  # every step of these is compared
        assert numba_engine.run(CASES[case]).status != DIVERGED, case
    assert numba_engine.run(CASES["diverges"]).diverged
    assert numba_engine.run(CASES["converges"]).converged
    plateau = numba_engine.run(CASES["ReduceLROnPlateau"]).lr
    assert plateau[-1] < plateau[0]  # the plateau scheduler did cut the lr


def test_one_script_holds_many_runs_and_surfaces():
    specs = [CASES["Lion"], CASES["surface-parameters"], CASES["Adam-no-bias-correction"]]
    code = to_pytorch(specs)
    assert code.count("\nclass Lion(") == 1 and code.count("\ndef rosenbrock(") == 1
    results, printed = run_script(code)
    assert len(results) == printed.count(" steps at (") == 3
    for result, s in zip(results, specs, strict=True):
        np.testing.assert_allclose(result["position"], numba_engine.run(s).final_position, 1e-7)


def test_script_imports_only_torch_and_math_and_uses_public_names():
    code = to_pytorch(list(CASES.values()))
    tree = ast.parse(code)
    imported = set()
    for node in ast.walk(tree):
        assert not isinstance(node, ast.ImportFrom)
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert imported == {"math", "torch"}
    modules = {"torch": torch, "math": math}
    for node in ast.walk(tree):
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if chain and isinstance(node, ast.Name) and node.id in modules:
            target = modules[node.id]
            for name in reversed(chain):
                assert not name.startswith("_"), chain
                target = getattr(target, name)  # AttributeError: not torch's API


def test_noisy_runs_use_a_seeded_torch_generator():
    noisy = OTHER_CASES["converges"].with_(noise=0.5, seed=3, steps=50, label="noisy")
    code = to_pytorch([noisy, noisy.with_(seed=4)])
    assert "torch.Generator().manual_seed(seed)" in code and "distribution" in code
    first, _ = run_script(code)
    again, _ = run_script(code)
    assert first == again  # reproducible from the seed ...
    assert first[0]["position"] != first[1]["position"]  # ... and the seed matters


def test_sam_runs_pass_their_radius_and_plain_runs_do_not():
    code = to_pytorch([SAM_CASES["SAM-Adam-cosine"], CASES["CosineAnnealingLR"]])
    assert code.count('"sam_rho"') == 1 and '"sam_rho": 0.1' in code
    assert "SAM (rho 0.1) around Adam" in code
    assert numba_engine.run(CASES["SAM-converges"]).converged
    for case in set(SAM_CASES) - {"SAM-converges"}:  # SAM changed the paths compared
        plain = numba_engine.run(CASES[case].with_(sam_rho=0.0)).final_position
        assert not np.allclose(numba_engine.run(CASES[case]).final_position, plain), case


def test_plain_runs_need_no_extra_classes_or_math():
    code = to_pytorch([CASES["StepLR"]])
    assert "class " not in code and "import math\n" in code  # train() uses math.isfinite
    assert "torch.optim.SGD([p], lr=0.001)" in code  # torch's defaults are left out


def test_an_empty_list_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        to_pytorch([])


# ---- the surfaces --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_torch_formula_matches_the_surface_and_its_gradient(name):
    surface = get_surface(name)
    namespace = {"torch": torch, "math": math}
    exec(surface_source(surface), namespace)
    params = {p.name: p.default * 3 for p in surface.params}  # not only the default
    a = np.array(list(params.values()), dtype=np.float64)
    (x0, x1), (y0, y1) = surface.domain
    rng = np.random.default_rng(0)
    for x, y in zip(rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20), strict=True):
        p = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
        value = namespace[name](p[0], p[1], **params)
        value.backward()
        assert value.item() == pytest.approx(surface.f(x, y, a), rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(p.grad.numpy(), surface.grad(x, y, a), rtol=1e-9, atol=1e-9)


def test_a_custom_formula_exports_and_ends_where_the_lab_does():
    spec = RunSpec(
        surface="custom", formula="min(x^2 + y^2, (x - 2)^2 + 0.5) + 0.1*y^2 + sin(x)",
        optimizer="Adam", hyperparameters=(("lr", 0.05),), start=(1.2, 0.8), steps=300,
    )  # fmt: skip
    code = to_pytorch([spec])
    namespace = {}
    exec(compile(code, "<export>", "exec"), namespace)
    (result,) = namespace["main"]()
    traj = numba_engine.run(spec)
    np.testing.assert_allclose(result["position"], traj.final_position, rtol=1e-9, atol=1e-12)
    assert result["stop_step"] == traj.stop_step
