"""Foundations shared by every layer: array-generic math and parameter validation.

Importing this package settles two Numba settings, which must be fixed before numba is
first imported:

* the threading layer: Streamlit runs every browser session in its own thread, and Numba's
  default "workqueue" layer aborts the whole process when two threads launch parallel
  kernels at once; "threadsafe" picks omp (the system libgomp) or tbb;
* the on-disk cache directory: Numba keys a cached kernel on its own source file only, not on
  the update rules and surfaces inlined into it, so an edit to those would load a stale
  kernel. The directory is named by a hash of this project's sources instead.

Numba reads them when it is imported (and again only when it next compiles), so where a
program imported numba before this package, its configuration is reloaded here: else
every kernel decorated before that next compile would cache beside its source file, keyed on
that file alone, and load stale after an edit elsewhere.
"""

import hashlib
import os
import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parent.parent
_PACKAGES = ("common", "landscapes", "optim_core")


def _source_hash() -> str:
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((_ROOT / package).rglob("*.py")):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


os.environ.setdefault("NUMBA_THREADING_LAYER", "threadsafe")
os.environ.setdefault(
    "NUMBA_CACHE_DIR",
    str(pathlib.Path.home() / ".cache" / "optim-lab" / f"numba-{_source_hash()}"),
)
if "numba" in sys.modules:
    from numba.core import config as _config

    _config.reload_config()
