"""One generated kernel module per (surface, optimizer) pair, so Numba can cache it on disk.

The module is ``_pair_kernels.py`` with its bindings block rewritten to import the pair's
functions. It is written once (atomically: pytest-xdist workers may race) under Numba's
cache directory, which ``common`` names by a hash of the sources, so an edit never meets a
stale kernel.

A surface function may name a stand-in for the kernels in its ``kernel`` attribute: every
custom formula's f and grad are one interpreter that reads the formula's program from ``a``
(see ``landscapes._formula_vm``), so all formulas share one module per optimizer and a new
formula compiles nothing. Such a pair is told ``N_SURFACE_PARAMS = -1``: ``a`` is the
program itself, of any length, never a fixed-size tuple of parameters.
"""

import pathlib
import re
from collections.abc import Callable
from functools import cache
from types import ModuleType

from common.modules import generated_module
from landscapes._formula_vm import kernel_f, kernel_grad

_TEMPLATE = pathlib.Path(__file__).with_name("_pair_kernels.py")
_BINDINGS = re.compile(r"# <bindings>\n.*?# </bindings>\n", re.S)
_JIT = 'njit(cache=True, nogil=True, error_model="numpy")'
# Module constants of a pair: the kernels size their tuples by the first two (per-step
# constants, surface parameters; -1: ``a`` is an array the surface reads whole); the batch
# kernel evaluates f at every step if the third is 1; the fourth compiles SAM in (1) or out.
# They are part of the module's name, so each combination is its own cached module.
_SIZES = ("N_CONSTANTS", "N_SURFACE_PARAMS", "CHECK_LOSS", "SAM")
READS_ARRAY = -1


def _bindings(f: Callable, grad: Callable, update: Callable, *sizes: int) -> str:
    lines = ["# <bindings>"]
    for alias, fn in (("_f", f), ("_grad", grad), ("_update", update)):
        lines.append(f"from {fn.__module__} import {fn.__name__} as {alias}")
    lines += ["", *(f"{n} = {_JIT}(_{n})" for n in ("f", "grad", "update"))]
    lines += [f"{name} = {int(n)}" for name, n in zip(_SIZES, sizes, strict=True)]
    return "\n".join([*lines, *_column(sizes[0]), "# </bindings>", ""])


def _column(n_constants: int) -> list[str]:
    """``_column(w, i)``: lane i's ``n_constants`` constants of the step, rows ``_NOW`` on of
    a block's work array, as a tuple written out element by element (a slice would be an
    array, whose references Numba counts in the lane loop, which then stays scalar)."""
    head = ["", "", f"@{_JIT[:-1]}, forceinline=True)", "def _column(w, i):"]
    items = [f"        w[_NOW + {k}, i]," for k in range(n_constants)]
    body = ["    return (", *items, "    )"] if items else ["    return ()"]
    return [*head, *body, "", ""]


def _module_name(f: Callable, update: Callable, *sizes: int) -> str:
    raw = f"{f.__module__}.{f.__name__}__{update.__module__}.{update.__name__}__{sizes}"
    return "optim_lab_pair_" + re.sub(r"\W", "_", raw)


def pair_module(
    f: Callable,
    grad: Callable,
    update: Callable,
    n_constants: int,
    n_params: int,
    check_loss: bool,
    sam: bool,
) -> ModuleType:
    """The kernels with ``f``, ``grad`` and ``update`` bound (module-level functions, or the
    ``kernel`` stand-ins they name); ``update`` reads ``n_constants`` per-step constants (the
    rows of ``Prepared.C``), the surface has ``n_params`` parameters (``Prepared.a``),
    ``check_loss`` says whether f may be non-finite inside the divergence box (then the batch
    kernel tests it each step), and ``sam`` whether the kernels step with SAM."""
    kernel_f, kernel_grad = getattr(f, "kernel", None), getattr(grad, "kernel", None)
    if kernel_f is not None and kernel_grad is not None:
        f, grad, n_params = kernel_f, kernel_grad, READS_ARRAY
    return _pair_module(f, grad, update, n_constants, n_params, bool(check_loss), bool(sam))


def interpreter_module(update: Callable, n_constants: int, sam: bool) -> ModuleType:
    """The kernels of every custom formula with this update rule: the formula interpreter
    bound as f and grad, ``a`` the program. A formula's f may overflow anywhere (its
    ``finite_within`` is 0), so these are the modules formulas use (CHECK_LOSS = 1); the
    engine also runs a built-in surface's program on them (``surface_program``)."""
    return _pair_module(kernel_f, kernel_grad, update, n_constants, READS_ARRAY, True, bool(sam))


@cache
def _pair_module(
    f: Callable,
    grad: Callable,
    update: Callable,
    n_constants: int,
    n_params: int,
    check_loss: bool,
    sam: bool,
) -> ModuleType:
    sizes = (n_constants, n_params, int(check_loss), int(sam))
    source = _BINDINGS.sub(
        _bindings(f, grad, update, *sizes), _TEMPLATE.read_text(encoding="utf-8")
    )
    return generated_module("pairs", _module_name(f, update, *sizes), source)
