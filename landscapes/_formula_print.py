"""A parsed formula printed three ways: canonical text, LaTeX, and a torch expression.

The canonical text is what a run stores and a link carries, so ``parse`` must give the same
tree back (and printing that tree the same text). The torch expression is what "Copy as
PyTorch" writes: only ``x``, ``y``, float literals and the ``torch.*`` / ``math.*`` names of
the tables in :mod:`landscapes._formula_codegen`; subexpressions without x and y are folded
to floats exactly as the evaluated program folds them, so both give the same numbers.
"""

import math

from landscapes._formula_codegen import (
    BINARY_FUNCTIONS,
    FUNCTIONS,
    BinaryCall,
    BinOp,
    Call,
    Name,
    Neg,
    Num,
    constant,
)

# Binding strength, loosest first; atoms (numbers, names, calls) bind tightest.
SUM, PRODUCT, NEG, POWER, ATOM = range(1, 6)
PRECEDENCE = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "^": POWER}


def _precedence(node) -> int:
    if isinstance(node, BinOp):
        return PRECEDENCE[node.op]
    return NEG if isinstance(node, Neg) else ATOM


def _number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _bracket(text: str, needed: bool, left: str = "(", right: str = ")") -> str:
    return f"{left}{text}{right}" if needed else text


def _join(op: str, left: tuple[str, int], right: tuple[str, int], python: bool) -> str:
    """``left op right`` with the brackets Python's (and our) grammar needs: ``^`` groups to
    the right and takes a unary exponent; the others group to the left. ``python`` spells
    the power ``**`` and spaces every operator, as Python is usually written."""
    p = PRECEDENCE[op]
    (left_text, lp), (right_text, rp) = left, right
    left_bracket = lp <= p if op == "^" else lp < p
    right_bracket = rp < NEG if op == "^" else rp <= p
    spaced = f" {op} " if python or p == SUM else op
    if python and op == "^":
        spaced = " ** "
    return _bracket(left_text, left_bracket) + spaced + _bracket(right_text, right_bracket)


def to_text(node) -> str:
    """The canonical text: minimal brackets, ``^`` for powers; ``parse`` gives ``node`` back."""
    match node:
        case Num(value):
            return _number_text(value)
        case Name(name):
            return name
        case Call(fn, arg):
            return f"{fn}({to_text(arg)})"
        case BinaryCall(fn, left, right):
            return f"{fn}({to_text(left)}, {to_text(right)})"
        case Neg(arg):
            return "-" + _bracket(to_text(arg), _precedence(arg) < NEG)
        case BinOp(op, left, right):
            return _join(
                op,
                (to_text(left), _precedence(left)),
                (to_text(right), _precedence(right)),
                python=False,
            )
    raise TypeError(f"not a formula node: {node!r}")


def _float(value: float) -> tuple[str, int]:
    if math.isnan(value):
        return "math.nan", ATOM
    text = "math.inf" if math.isinf(value) else repr(abs(value))
    return ("-" + text, NEG) if math.copysign(1.0, value) < 0 else (text, ATOM)


def _torch(node) -> tuple[str, int]:
    """(torch source, its precedence); constant subtrees fold to one float."""
    value = constant(node)
    if value is not None:
        return _float(value)
    match node:
        case Name(name):
            return name, ATOM
        case Call(fn, arg):
            return f"{FUNCTIONS[fn].torch}({_torch(arg)[0]})", ATOM
        case BinaryCall(fn, left, right):
            return _torch_pair(fn, left, right), ATOM
        case Neg(arg):
            text, p = _torch(arg)
            return "-" + _bracket(text, p < NEG), NEG
        case BinOp(op, left, right):
            return _join(op, _torch(left), _torch(right), python=True), PRECEDENCE[op]
    raise TypeError(f"not a formula node: {node!r}")


def _torch_pair(fn: str, left, right) -> str:
    # torch.minimum / maximum take two tensors; against a constant, clamp is the same value.
    bounds = [(arg, constant(other)) for arg, other in ((left, right), (right, left))]
    for arg, bound in bounds:
        if bound is not None:
            keyword = "max" if fn == "min" else "min"
            return f"torch.clamp({_torch(arg)[0]}, {keyword}={_float(bound)[0]})"
    return f"{BINARY_FUNCTIONS[fn][1]}({_torch(left)[0]}, {_torch(right)[0]})"


def to_torch(node) -> str:
    """A torch expression in tensors ``x`` and ``y`` with the formula's value."""
    return _torch(node)[0]


def _number_latex(value: float) -> str:
    text = _number_text(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \times {power}"


def _latex_precedence(node) -> int:
    return ATOM if isinstance(node, BinOp) and node.op == "/" else _precedence(node)


def _latex_bracket(node, needed: bool) -> str:
    return _bracket(to_latex(node), needed, r"\left(", r"\right)")


def to_latex(node) -> str:
    """LaTeX for the formula panel: fractions, e^{...}, \\sqrt, |...|, \\pi."""
    match node:
        case Num(value):
            return _number_latex(value)
        case Name(name):
            return r"\pi" if name == "pi" else name
        case Call(fn, arg):
            return FUNCTIONS[fn].latex.format(to_latex(arg))
        case BinaryCall(fn, left, right):
            return BINARY_FUNCTIONS[fn][0].format(to_latex(left), to_latex(right))
        case Neg(arg):
            return "-" + _latex_bracket(arg, _latex_precedence(arg) < NEG)
        case BinOp("/", left, right):
            return rf"\frac{{{to_latex(left)}}}{{{to_latex(right)}}}"
        case BinOp("^", left, right):
            needed = _latex_precedence(left) <= POWER or isinstance(left, Call | BinaryCall)
            return f"{_latex_bracket(left, needed)}^{{{to_latex(right)}}}"
        case BinOp(op, left, right):
            p = PRECEDENCE[op]
            left_text = _latex_bracket(left, _latex_precedence(left) < p)
            right_text = to_latex(right)
            # A minus sign right after an operator reads badly: bracket it.
            if _latex_precedence(right) <= p or right_text.startswith("-"):
                right_text = _bracket(right_text, True, r"\left(", r"\right)")
            if op != "*":
                return f"{left_text} {op} {right_text}"
            return left_text + (r" \cdot " if right_text[0].isdigit() else r"\,") + right_text
    raise TypeError(f"not a formula node: {node!r}")
