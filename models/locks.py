"""How sessions share one model: its fair lock and each run's own pass counts.

Streamlit runs every browser session in its own thread and the models are shared. ``ModelLock``
is reentrant and first come, first served: a thread that releases it while others wait hands it
to the longest waiter, so a short run waiting between two batches of a long one gets it then, not
after the long one re-acquires it (CPython's ``RLock`` makes no such promise).

A run that holds the lock for its whole length (a method with hooks) registers how long it
expects to take (``hold``); a run that then has to wait is told so through the callback that
``waiting_reports`` installs for its block, with an estimate of how long.

``count_forward`` / ``count_backward`` count passes on the model (its totals) and in the run
that ``counting`` opened in the current context, so two runs on one model at once each count
their own passes.
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from models.units import duration

WAITING = "Waiting for another run on this model"


@dataclass
class Holder:
    """A run holding a model's lock for its whole length: when it started, what it expected, how far it is."""

    started: float
    estimate_s: float | None = None  # the cost estimate of the whole run, when known
    done: int = 0
    total: int = 0

    def remaining_s(self, now: float) -> float | None:
        """Seconds left: from the run's own pace once it reported passes, else its estimate minus its elapsed time."""
        elapsed = now - self.started
        if self.done > 0 and self.total > self.done:
            return elapsed * (self.total - self.done) / self.done
        if self.estimate_s is not None:
            return max(self.estimate_s - elapsed, 0.0)
        return None


class ModelLock:
    """A reentrant lock whose waiters get it in the order they asked (FIFO)."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._count = 0
        self._waiters: deque[tuple[int, threading.Lock]] = deque()
        self._holders: dict[int, Holder] = {}  # whole-run holders by thread id

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._count += 1
                return True
            if self._owner is None and not self._waiters:
                self._owner, self._count = me, 1
                return True
            if not blocking:
                return False
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append((me, gate))
            ahead = [h for ident, h in self._holders.items() if ident != me]
        if ahead:
            try:
                _tell_waiting(ahead)
            except BaseException:  # e.g. the page stopped: leave the queue (or pass the lock on) before going
                with self._mutex:
                    if (me, gate) in self._waiters:
                        self._waiters.remove((me, gate))
                    else:
                        self._count = 1
                        self._hand_over()
                raise
        if gate.acquire(timeout=timeout if timeout is not None and timeout >= 0 else -1):
            return True  # ``release`` made this thread the owner before opening its gate
        with self._mutex:
            if self._owner == me:  # handed over between the timeout and here
                return True
            self._waiters.remove((me, gate))
            return False

    def release(self) -> None:
        with self._mutex:
            if self._owner != threading.get_ident():
                raise RuntimeError("cannot release a model lock this thread does not hold")
            self._count -= 1
            if self._count:
                return
            self._hand_over()

    def _hand_over(self) -> None:
        """The owner is done (its count reached 0; the caller holds ``_mutex``): the longest waiter gets the lock."""
        self._holders.pop(self._owner, None)
        if self._waiters:
            ident, gate = self._waiters.popleft()
            self._owner, self._count = ident, 1
            gate.release()
        else:
            self._owner, self._count = None, 0

    __enter__ = acquire

    def __exit__(self, *exc) -> None:
        self.release()

    def locked(self) -> bool:
        with self._mutex:
            return self._owner is not None

    def n_waiting(self) -> int:
        with self._mutex:
            return len(self._waiters)

    @contextmanager
    def hold(self, estimate_s: float | None = None):
        """Hold the lock for a whole run, telling later waiters (through ``waiting_reports``) about how long it takes.

        Yields the ``Holder``: the run updates its ``done``/``total`` as it goes."""
        with self:
            holder = Holder(time.monotonic(), estimate_s)
            with self._mutex:
                outer = self._holders.setdefault(threading.get_ident(), holder)
            try:
                yield holder
            finally:
                if outer is holder:
                    with self._mutex:
                        if self._holders.get(threading.get_ident()) is holder:
                            del self._holders[threading.get_ident()]


# ---------------------------------------------------------------- telling a run it waits

_ON_WAIT: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("lumen_on_wait", default=None)


@contextmanager
def waiting_reports(callback: Callable[[str], None] | None):
    """``callback(sentence)`` is called when a lock acquired inside the block must wait for another whole run."""
    token = _ON_WAIT.set(callback)
    try:
        yield
    finally:
        _ON_WAIT.reset(token)


def waiting_sentence(holders: list[Holder], now: float | None = None) -> str:
    """'Waiting for another run on this model (about N s)…', N the holders' remaining time (omitted if unknown), in
    whole seconds up to 90 s, then as ``duration`` writes it ("about 7.5 min")."""
    now = time.monotonic() if now is None else now
    left = [h.remaining_s(now) for h in holders]
    if not left or any(s is None for s in left):
        return f"{WAITING}…"
    seconds = max(1, math.ceil(sum(left)))
    return f"{WAITING} (about {seconds} s)…" if seconds <= 90 else f"{WAITING} (about {duration(seconds)})…"


def _tell_waiting(holders: list[Holder]) -> None:
    callback = _ON_WAIT.get()
    if callback is not None:
        callback(waiting_sentence(holders))


# ---------------------------------------------------------------- passes per run


@dataclass
class RunCount:
    n_forward: int = 0
    n_backward: int = 0


_RUN: contextvars.ContextVar[RunCount | None] = contextvars.ContextVar("lumen_run_count", default=None)


@contextmanager
def counting():
    """Count the passes made in this context (this thread's run) into the yielded ``RunCount``."""
    count = RunCount()
    token = _RUN.set(count)
    try:
        yield count
    finally:
        _RUN.reset(token)


def count_forward(model, n: int) -> None:
    """``n`` forward passes on ``model``: added to its totals and to the current run's count."""
    model.n_forward += int(n)
    run = _RUN.get()
    if run is not None:
        run.n_forward += int(n)


def count_backward(model, n: int) -> None:
    model.n_backward += int(n)
    run = _RUN.get()
    if run is not None:
        run.n_backward += int(n)
