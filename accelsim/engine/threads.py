"""The engine's worker threads: a spin-waiting helper pool, the thread count, and the BLAS thread limit."""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator

import numba
import numpy as np

from accelsim.errors import AccelsimError

#: Work items per thread when a layer is cut into chunks (dynamic load balance on a shared machine).
CHUNKS_PER_THREAD = 4


def is_int(value: object) -> bool:
    """A Python or numpy integer, booleans excluded."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def engine_threads(threads: int | None = None) -> int:
    """The number of worker threads an ``execute`` call uses: ``threads`` if given, else the ``ACCELSIM_THREADS``
    environment variable, else the number of cores this process may run on (``os.sched_getaffinity``)."""
    if threads is None:
        env = os.environ.get("ACCELSIM_THREADS")
        if env:
            try:
                return engine_threads(int(env))
            except (ValueError, AccelsimError):
                raise AccelsimError(f"environment variable ACCELSIM_THREADS: expected an integer of at least 1, "
                                    f"found {env!r}") from None
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if not is_int(threads) or threads < 1:
        raise AccelsimError(f"threads must be an integer of at least 1 (or None), found {threads!r}")
    return int(threads)


def chunk_ranges(count: int, chunk: int) -> list[tuple[int, int]]:
    """``range(count)`` as consecutive ``(start, end)`` ranges of ``chunk`` indices (the last may be shorter)."""
    return [(start, min(start + chunk, count)) for start in range(0, count, chunk)]


#: Polls of a waiting thread before it sleeps (each poll yields the core; ~0.3–1 µs when nothing else runs).
SPIN_POLLS = 4000

try:
    _sched_yield = ctypes.CDLL(None).sched_yield  # POSIX sched_yield(): give the core away for one poll
    _sched_yield.restype = ctypes.c_int
    _sched_yield.argtypes = []
except (OSError, AttributeError, TypeError):      # not POSIX (e.g. Windows): waiting threads sleep at once
    _sched_yield = None

if _sched_yield is not None:
    @numba.njit(nogil=True)
    def _spin_until(counter, value, polls):
        """Whether ``counter[0]`` reached ``value`` within ``polls`` polls, the GIL released throughout. The
        opaque ``sched_yield`` call between polls makes LLVM reload ``counter[0]`` and lets other processes run."""
        for _ in range(polls):
            if counter[0] == value:
                return True
            _sched_yield()
        return counter[0] == value
else:
    def _spin_until(counter, value, polls):
        """No spinning without sched_yield: report the current state; the caller then sleeps."""
        return counter[0] == value


class _Worker:
    """A helper thread of the engine. Handing it a task costs ~1 µs while it spin-waits (for ``SPIN_POLLS`` polls
    after its last task, i.e. between the layers of a network), against ~50–150 µs to wake a sleeping thread
    (a blocked Python thread, as in ``concurrent.futures``) on the 2-core VM: at ~60 fork/joins per image the
    latter ate the whole gain of a second core."""

    def __init__(self) -> None:
        self.posted = np.zeros(1, np.int64)      # sequence number of the last task handed over (caller writes)
        self.finished = np.zeros(1, np.int64)    # sequence number of the last task completed (worker writes)
        self.task: tuple[Callable, object] | None = None
        self.result: int = 0
        self.error: BaseException | None = None
        self.sleeping = False
        self.wake = threading.Event()
        threading.Thread(target=self._loop, name="accelsim-worker", daemon=True).start()

    def _loop(self) -> None:
        seen = 0
        while True:
            if not _spin_until(self.posted, seen + 1, SPIN_POLLS):
                self.sleeping = True
                if self.posted[0] != seen + 1:   # re-checked under the GIL: a post after this sets `wake`
                    self.wake.wait()
                self.wake.clear()
                self.sleeping = False
                continue
            seen += 1
            fn, arg = self.task
            try:
                self.result, self.error = fn(arg), None
            except BaseException as exc:  # re-raised in the calling thread by join()
                self.result, self.error = 0, exc
            self.finished[0] = seen

    def post(self, fn: Callable[[object], int], arg: object) -> None:
        self.task = (fn, arg)
        self.posted[0] += 1
        if self.sleeping:
            self.wake.set()

    def join(self) -> int:
        target = self.posted[0]
        while not _spin_until(self.finished, target, SPIN_POLLS):
            pass
        if self.error is not None:
            raise self.error
        return self.result


_WORKERS_LOCK = threading.Lock()
_WORKERS: list[_Worker] = []
_WORKERS_PID = os.getpid()


def in_parallel(make_worker: Callable[[Iterator[tuple[int, int]]], int], chunks: list[tuple[int, int]],
                 workers: int) -> int:
    """Work through ``chunks`` on up to ``workers`` threads (the calling thread and the engine's helpers);
    returns the sum of the threads' overflow counts.

    ``make_worker(ranges)`` processes every ``(start, end)`` it takes from the shared iterator ``ranges`` and
    returns its count. Threads take the next chunk when they finish one, so a thread slowed down by another
    process on its core simply does fewer chunks. Helpers are started on first use (again after a fork); a
    second ``execute`` running concurrently in another thread runs its layers on its own thread.
    """
    global _WORKERS_PID
    ranges = iter(chunks)            # next() on a list iterator is atomic: each chunk goes to exactly one thread
    helpers = min(workers, len(chunks)) - 1
    if helpers <= 0 or not _WORKERS_LOCK.acquire(blocking=False):
        return make_worker(ranges)
    try:
        if _WORKERS_PID != os.getpid():  # a forked child has the list but not the threads
            _WORKERS.clear()
            _WORKERS_PID = os.getpid()
        while len(_WORKERS) < helpers:
            _WORKERS.append(_Worker())
        for worker in _WORKERS[:helpers]:
            worker.post(make_worker, ranges)
        total = make_worker(ranges)
        return total + sum(worker.join() for worker in _WORKERS[:helpers])
    finally:
        _WORKERS_LOCK.release()


@contextlib.contextmanager
def thread_limits() -> Iterator[None]:
    """For one ``execute`` call, the engine's own threads are the only parallelism: BLAS runs single-threaded
    (each worker multiplies its own pixel blocks; the numba kernels are serial). Mixing thread pools made them
    starve each other on a busy machine: their workers spin-wait after each parallel region (~100 ms per image
    instead of ~20). Without threadpoolctl, BLAS keeps its own setting."""
    with _blas_limit(1):
        yield


_BLAS_CONTROLLER: object | None = None


def _blas_limit(limit: int) -> contextlib.AbstractContextManager:
    """A context limiting numpy's BLAS to ``limit`` threads (threadpoolctl; a no-op when it is not installed)."""
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            return contextlib.nullcontext()
        _BLAS_CONTROLLER = ThreadpoolController()
    return _BLAS_CONTROLLER.limit(limits=limit, user_api="blas")
