"""Generated Python modules (kernel pairings, compiled formulas), importable by name.

Numba caches a function by its file, so generated code must live in a real file: it goes under
Numba's cache directory (named by a hash of the project's sources, see ``common``), written
atomically because pytest-xdist workers or several app processes may write the same one.
"""

import importlib.util
import os
import pathlib
import sys
import tempfile
import threading
from types import ModuleType

import numba

_LOCK = threading.Lock()


def generated_module(folder: str, name: str, source: str) -> ModuleType:
    """Module ``name`` with ``source``, written under the cache's ``folder`` and imported once."""
    with _LOCK:
        module = sys.modules.get(name)
        if module is not None:
            return module
        base = pathlib.Path(numba.config.CACHE_DIR or tempfile.gettempdir()) / folder
        base.mkdir(parents=True, exist_ok=True)
        path = base / f"{name}.py"
        if not path.exists() or path.read_text(encoding="utf-8") != source:
            fd, tmp = tempfile.mkstemp(dir=base, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:  # Python reads source as UTF-8
                out.write(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
