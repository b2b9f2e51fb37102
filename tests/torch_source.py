"""Check a surface's torch source against the whitelist, then evaluate it (tests only)."""

import ast
import math

import torch

TORCH_CALLS = {
    f"torch.{name}"
    for name in ("sin", "cos", "tan", "exp", "log", "sqrt", "abs", "tanh", "minimum", "maximum")
} | {"torch.clamp"}
MATH_CONSTANTS = {"math.pi", "math.e", "math.inf", "math.nan"}
_SYNTAX = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.Call, ast.Name, ast.Attribute, ast.Constant,
    ast.keyword, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd,
)  # fmt: skip


def _dotted(node) -> str:
    return f"{node.value.id}.{node.attr}" if isinstance(node.value, ast.Name) else "?"


def check_torch_source(source: str, names=()) -> ast.Expression:
    """The parsed source, after asserting it holds nothing but arithmetic, float literals,
    x, y, ``names`` and the whitelisted torch functions and math constants."""
    tree = ast.parse(source, mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, _SYNTAX), f"{type(node).__name__} in {source!r}"
        if isinstance(node, ast.Name):
            assert node.id in {"x", "y", "torch", "math", *names}, node.id
        elif isinstance(node, ast.Attribute):
            assert _dotted(node) in TORCH_CALLS | MATH_CONSTANTS, _dotted(node)
        elif isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Attribute) and _dotted(node.func) in TORCH_CALLS
            assert all(k.arg in ("min", "max") for k in node.keywords)
        elif isinstance(node, ast.Constant):
            assert type(node.value) in (int, float), node.value
    return tree


def evaluate_torch_source(source: str, x, y, params: dict):
    tree = check_torch_source(source, params)
    code = compile(tree, "<torch source>", "eval")
    return eval(
        code, {"__builtins__": {}, "torch": torch, "math": math}, {"x": x, "y": y, **params}
    )
