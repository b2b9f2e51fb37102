"""Python source text of torch.optim.lr_scheduler objects, for "Copy as PyTorch".

Each schedule entry writes its own constructor call (``ScheduleDef.torch_source``); these are
the layout helpers they share: literals that round-trip (floats by ``repr``, tuples stay
tuples, inf as ``math.inf``) and calls wrapped one argument per line past the page width, as
black lays them out. The script they go into names the optimizer ``optimizer`` and imports
``torch`` and ``math``.
"""

import json
import math

SCHED = "torch.optim.lr_scheduler."
WIDTH = 99


def string(text: str) -> str:
    """A double-quoted Python literal: JSON's escapes are all valid Python escapes."""
    return json.dumps(text, ensure_ascii=False)


def literal(value, indent: int | None = None) -> str:
    """Python source for a value (tuples stay tuples, floats round-trip); a dict wider than
    the page at ``indent`` gets one entry per line."""
    if isinstance(value, str):
        return string(value)
    if isinstance(value, float) and math.isinf(value):
        return "math.inf" if value > 0 else "-math.inf"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        items = [f"{string(k)}: {literal(v)}" for k, v in value.items()]
        one_line = "{" + ", ".join(items) + "}"
        if indent is None or indent + 7 + len(one_line) <= WIDTH:
            return one_line
        return "{\n" + "".join(f"{' ' * (indent + 4)}{i},\n" for i in items) + " " * indent + "}"
    return repr(value)


def keywords(values: dict) -> list[str]:
    return [f"{k}={literal(v)}" for k, v in values.items()]


def call(func: str, args: list[str], indent: int) -> str:
    """``func(a, b)`` on one line if it fits, else one argument per line (black's layout)."""
    one_line = f"{func}({', '.join(args)})"
    if indent + len(one_line) <= WIDTH and "\n" not in one_line:
        return one_line
    pad = " " * (indent + 4)
    return f"{func}(\n" + "".join(f"{pad}{a},\n" for a in args) + " " * indent + ")"


def block_list(items: list[str], indent: int) -> str:
    """``[`` then one item per line, then ``]`` at ``indent``."""
    pad = " " * (indent + 4)
    return "[\n" + "".join(f"{pad}{item},\n" for item in items) + " " * indent + "]"


def scheduler_call(name: str, table: tuple, params: dict, indent: int) -> str:
    """``torch.optim.lr_scheduler.<name>(optimizer, ...)`` with the values that differ from
    torch's defaults (and those whose default is derived from others, such as CyclicLR's
    step_size_down); ``table`` is the entry's Param table."""
    defaults = {p.name: p.default for p in table}
    shown = {k: v for k, v in params.items() if defaults[k] is None or v != defaults[k]}
    return call(f"{SCHED}{name}", ["optimizer", *keywords(shown)], indent)


def lambda_lr(factor: str) -> str:
    """A LambdaLR of ``factor``, an expression in the step ``t``: for schedules torch lacks."""
    return f"{SCHED}LambdaLR(optimizer, lambda t: {factor})"
