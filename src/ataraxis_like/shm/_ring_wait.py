"""Blocking on the ring: retry under the lock, sleep on a futex word between tries, and use a
quiet wait slice to look for trouble (a dead creator, records held by dead processes).

The protocol is docs/queue.md's "Waiting"; the put and take paths call ``_until`` only when
their first try finds no room or nothing to take.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import QueueClosedError
from . import _posix
from ._arguments import checked_timeout
from ._ring_repair import RingRepair

_T = TypeVar("_T")
_WAIT_SLICE = 0.1


class RingWaiting(RingRepair):
    """Waits for a futex word to move, counted as a waiter so whoever moves it wakes us."""

    def _until(
        self,
        attempt: Callable[[], _T | None],
        word: int,
        counter: int,
        timeout: float | None,
        failure: Callable[[float | None], Exception],
        poll: float | None = None,
    ) -> _T:
        """Call ``attempt`` under the lock until it returns something other than None.

        Between tries, sleep until ``word`` moves, counted in the waiters ``counter`` so that
        whoever moves it wakes us (with ``poll``: uncounted, looking again every ``poll``
        seconds). ``failure(timeout)`` is raised once ``timeout`` (None: never) has passed.
        """
        deadline = None
        registered = False
        while True:
            self._enter()
            try:
                if registered:
                    self._words[counter] = max(0, self._words[counter] - 1)
                    registered = False
                result = attempt()
                if result is not None:
                    return result
                if timeout is not None and timeout <= 0:
                    raise failure(timeout)
                if poll is None:
                    self._words[counter] += 1
                    registered = True
                seen = self._words[word]
            finally:
                self._exit()
            if deadline is None and timeout is not None:
                # Callers pass anything whose ``timeout >= 0`` holds: waiting needs seconds.
                seconds = checked_timeout(timeout, self._label)
                deadline = math.inf if seconds is None else time.monotonic() + seconds
            if not self._wait(word, seen, deadline, poll):
                if registered:
                    self._withdraw(counter)
                raise failure(timeout)

    def _wait(
        self, word: int, seen: int, deadline: float | None, poll: float | None = None
    ) -> bool:
        """Sleep until the word moves, a slice passes or the deadline; False once past it.

        A slice that passes with no wake-up is when we look for trouble: a dead creator ends
        the wait, and records taken by dead consumers are delivered again.
        """
        remaining = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            return False
        if poll is not None:
            nap = min(poll, remaining)
            time.sleep(nap)
            self._idle += nap
            if self._idle < _WAIT_SLICE:
                return True
            self._idle = 0.0
        elif _posix.futex_wait(self._words_address + 4 * word, seen, min(remaining, _WAIT_SLICE)):
            return True
        if not self.segment.creator_alive():
            raise QueueClosedError(
                f"{self._label} is gone: its creator (pid {self.segment.header.creator_pid}) died; "
                "recreate the queue",
                name=self.name,
            )
        self.rescue_abandoned()
        return True

    def _withdraw(self, counter: int) -> None:
        self._enter()
        try:
            self._words[counter] = max(0, self._words[counter] - 1)
        finally:
            self._exit()
