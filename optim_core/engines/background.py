"""Kernels compiled off the caller's thread: one at a time, each at most once per process.

The app's sessions keep answering meanwhile (``numba_engine.run`` draws a new pair's first
result through the formula interpreter until the pair's own kernel is ready). One worker
thread: a compile holds Numba's compiler lock and mostly the GIL anyway, and on a small
server the other core stays with the sessions. The worker is a daemon, so a process that
exits (a test run, a server stopped) abandons the compiles still queued instead of waiting
for them; Numba writes its disk cache atomically, so an abandoned one leaves nothing behind.
"""

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

_LOG = logging.getLogger(__name__)
_QUEUE: queue.SimpleQueue = queue.SimpleQueue()
_JOBS: dict[Callable, Future] = {}
_LOCK = threading.Lock()
_worker: threading.Thread | None = None


def compile_later(kernel: Callable, *args) -> Future:
    """Call ``kernel(*args)`` on the compile thread, which compiles it (or loads it from the
    disk cache) for these argument types. A kernel already queued, running or done is not
    queued again; a failed one stays failed (its callers keep their other path)."""
    global _worker
    with _LOCK:
        job = _JOBS.get(kernel)
        if job is None:
            job = _JOBS[kernel] = Future()
            _QUEUE.put((job, kernel, args))
            if _worker is None:
                _worker = threading.Thread(target=_work, name="optim-lab-compile", daemon=True)
                _worker.start()
        return job


def _work() -> None:
    while True:
        job, kernel, args = _QUEUE.get()
        job.set_running_or_notify_cancel()
        try:
            kernel(*args)
        except Exception as err:
            _LOG.exception("compiling %s in the background failed", kernel)
            job.set_exception(err)
        else:
            job.set_result(None)


def wait(timeout: float | None = None) -> None:
    """Until every compile queued so far has ended (tests, benchmarks); TimeoutError if one
    takes longer than ``timeout`` seconds."""
    with _LOCK:
        jobs = list(_JOBS.values())
    for job in jobs:
        job.exception(timeout)
