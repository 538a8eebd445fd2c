"""Crash repair and rescue: what the ring does about processes that died while using it.

Two cases (docs/queue.md, "Crashes"): a lock holder killed mid-change leaves an intent that the
next holder finishes or undoes (``_repair``, run by the lock when it is taken from a dead
holder); a process that took records and died without releasing them has them delivered again
(``rescue_abandoned``, also run from a wait slice that passes with no wake-up).
"""

from __future__ import annotations

import psutil

from . import _segment
from ._ring_core import (
    BATCH_MARK,
    CONSUMERS_WAITING,
    FREE,
    GOT,
    GOT_WORD,
    INTENT,
    INTENT_AT,
    INTENT_GET,
    INTENT_NONE,
    INTENT_RESET,
    INTENT_SPAN,
    KIND_WRAP,
    PRODUCERS_WAITING,
    PUT_WORD,
    READ,
    RESCUED,
    SERIAL,
    STAGE,
    STAGED_GOT,
    STATE_READY,
    STATE_RESCUED,
    STATE_TAKEN,
    TAIL,
    RingCore,
)

_PID_LIMIT = 1 << 22
"""Linux never hands out pids above this (the largest pid_max): a taker word beyond it (or 0)
cannot name a process, only a garbled record."""


def process_dead(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its parent counts as dead)."""
    if not 0 < pid <= _PID_LIMIT:
        return True
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


class RingRepair(RingCore):
    """Repairs after a dead lock holder and rescues records held by dead takers."""

    def __init__(self, segment: _segment.Segment) -> None:
        super().__init__(segment)
        segment.recovery_hooks.append(self._repair)

    def _repair(self) -> None:
        """Runs under the lock taken from a dead holder: finish or undo what it was doing."""
        control = self._control
        intent = control[INTENT]
        start = control[STAGE] if intent == INTENT_GET else control[INTENT_AT]
        if intent in (INTENT_GET, INTENT_SPAN) and control[TAIL] > start + self.capacity:
            # Producers have written over the batch's space since: the intent is a stale one
            # (see docs/queue.md, "a holder killed just after acquiring"), its get returned.
            intent = INTENT_NONE
        if intent == INTENT_RESET:
            control[FREE], control[READ], control[TAIL] = (
                control[STAGE], control[STAGE + 1], control[STAGE + 2],
            )  # fmt: skip
        elif intent == INTENT_SPAN:
            # The holder died after copying a span out: none of it reached its caller.
            control[READ] = control[FREE] = control[INTENT_AT]
            control[GOT] = control[STAGED_GOT]
        elif intent == INTENT_GET:
            # The holder died holding a batch it had copied out, so its get never returned:
            # put back the positions it started from, and deliver its rescued records again.
            batch = BATCH_MARK | control[SERIAL]
            old_free, old_read = control[STAGE], control[INTENT_AT]
            _free, read, _tail = self._positions()
            if not old_free <= old_read <= read:
                raise self._corrupt(
                    f"a get's staged positions free {old_free} and read {old_read} lie past "
                    f"read {read}"
                )
            position = old_free
            while position < read:
                size, kind, _state, _m, _l, taker = self._record(position, read)
                if taker == batch and kind != KIND_WRAP:
                    again = STATE_READY if position >= old_read else STATE_RESCUED
                    self._set_state(position, again)
                position += size
            control[READ], control[FREE] = old_read, old_free
            control[GOT] = control[STAGED_GOT]
        control[INTENT] = INTENT_NONE
        self._rescue_dead_takers(recount=True)
        self._words[CONSUMERS_WAITING] = 0
        self._words[PRODUCERS_WAITING] = 0
        self._bump(PUT_WORD, always=True)
        self._bump(GOT_WORD, always=True)

    def rescue_abandoned(self) -> int:
        """Deliver again every record taken by a process that has died; return how many."""
        self._enter()
        try:
            return self._rescue_dead_takers()
        finally:
            self._exit()

    def _rescue_dead_takers(self, recount: bool = False) -> int:
        """Mark records taken by dead processes rescued; with ``recount``, also set the rescued
        count from the records themselves (after a repair: the dead holder may have changed a
        record's state and died before counting it)."""
        control = self._control
        position, read, _tail = self._positions()
        rescued = waiting = 0
        dead: dict[int, bool] = {}
        while position < read:
            size, kind, state, _m, _l, taker = self._record(position, read)
            if state == STATE_TAKEN and kind != KIND_WRAP:
                if taker not in dead:
                    dead[taker] = process_dead(taker)
                if dead[taker]:
                    self._set_state(position, STATE_RESCUED)
                    state = STATE_RESCUED
                    rescued += 1
            waiting += state == STATE_RESCUED and kind != KIND_WRAP
            position += size
        if recount:
            control[RESCUED] = waiting
        elif rescued:
            control[RESCUED] += rescued
        if rescued:
            self._bump(PUT_WORD)
        return rescued
