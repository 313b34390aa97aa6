"""The worker's lifecycle: one explicit state and the transitions allowed between them.

::

    CREATED --run()--> RUNNING --stop(), every flow deprecated, a service died--> DRAINING
    CREATED --stop() before run()--> DRAINING   (run() then returns at once)
    RUNNING | DRAINING --cleaned up (also when start-up failed or run() was cancelled)--> STOPPED

Everything else is a bug and raises. A second ``request_stop()`` changes nothing. The state is
changed on the worker's loop only (``Worker.stop()`` from another thread goes through
``call_soon_threadsafe``); reading it from any thread is safe.
"""

from __future__ import annotations

import asyncio
import enum
import logging

__all__ = ["Lifecycle", "State"]

logger = logging.getLogger(__name__)


class State(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    DRAINING = "draining"
    STOPPED = "stopped"


_ALLOWED: dict[State, frozenset[State]] = {
    State.CREATED: frozenset({State.RUNNING, State.DRAINING}),
    State.RUNNING: frozenset({State.DRAINING, State.STOPPED}),
    State.DRAINING: frozenset({State.STOPPED}),
    State.STOPPED: frozenset(),
}


class Lifecycle:
    """The state, and an event set on entering DRAINING: run() waits on it, handlers see it as
    ``ctx.shutdown``, sleeps of the start-up retry wake on it."""

    def __init__(self) -> None:
        self._state = State.CREATED
        self._ran = False  # run() was called: a Worker runs once
        self.draining = asyncio.Event()

    @property
    def state(self) -> State:
        return self._state

    @property
    def stopping(self) -> bool:
        """Told to stop (draining) or stopped: start nothing new."""
        return self._state in (State.DRAINING, State.STOPPED)

    def begin(self) -> bool:
        """run() starts. True: serve. False: stop() came first, the worker stops at once."""
        if self._ran:
            raise RuntimeError("a Worker can run only once; create a new one")
        self._ran = True
        if self._state is State.DRAINING:
            self._move(State.STOPPED)
            return False
        self._move(State.RUNNING)
        return True

    def request_stop(self, why: str) -> None:
        """Start draining (from CREATED or RUNNING); later requests change nothing."""
        if self.stopping:
            return
        logger.debug("worker %s: draining (%s)", self._state.value, why)
        self._move(State.DRAINING)
        self.draining.set()

    def finish(self) -> None:
        """Cleaned up: STOPPED."""
        if self._state is not State.STOPPED:
            self._move(State.STOPPED)
        self.draining.set()  # anyone still waiting for the stop wakes up

    async def wait_stopping(self) -> None:
        await self.draining.wait()

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake up when the worker is told to stop."""
        try:
            await asyncio.wait_for(self.draining.wait(), seconds)
        except TimeoutError:
            pass

    def _move(self, to: State) -> None:
        if to not in _ALLOWED[self._state]:
            raise RuntimeError(f"worker lifecycle: {self._state.value} -> {to.value} is not allowed")
        self._state = to
