"""Execution slots: at most ``concurrency`` tasks run at once, and every slot taken comes back once.

A poller reserves a :class:`Lease` of up to a batch of free slots before it reads, so it reads
only what it can start at once. Each task it starts takes one :class:`Slot` out of the lease;
whatever the lease still holds goes back when it is closed (a ``with`` block, so an error or a
cancellation returns it too). A task's slot goes back when the task has reported, or passes to a
task its completion claimed (:meth:`Slot.hand_over`). Releasing is idempotent: no path can give
a slot back twice, and ``with`` blocks make forgetting one hard.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

__all__ = ["Lease", "Slot", "Slots"]


class Slots:
    """The pool of free slots."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._free = total
        self._freed = asyncio.Event()

    @property
    def free(self) -> int:
        return self._free

    async def reserve(self, most: int) -> Lease:
        """Wait until a slot is free; lease up to ``most`` of the free ones."""
        while self._free <= 0:
            self._freed.clear()
            await self._freed.wait()
        n = min(most, self._free)
        self._free -= n
        return Lease(self, n)

    def _give_back(self, n: int) -> None:
        if n > 0:
            self._free += n
            self._freed.set()


class Lease:
    """Slots reserved by one poll, until its tasks take them or the lease is closed."""

    __slots__ = ("_count", "_slots")

    def __init__(self, slots: Slots, count: int) -> None:
        self._slots = slots
        self._count = count

    @property
    def count(self) -> int:
        """Slots still held."""
        return self._count

    def take(self) -> Slot:
        """One slot out of the lease, for one task."""
        if self._count <= 0:
            raise RuntimeError("slot lease is empty")
        self._count -= 1
        return Slot(self._slots)

    def detach(self) -> Lease:
        """Move every slot into a new lease, for the coroutine that will use them."""
        moved = Lease(self._slots, self._count)
        self._count = 0
        return moved

    def close(self) -> None:
        """Give back what is left (idempotent)."""
        n, self._count = self._count, 0
        self._slots._give_back(n)

    def __enter__(self) -> Lease:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Slot:
    """The slot one task holds while it runs and reports."""

    __slots__ = ("_held", "_slots")

    def __init__(self, slots: Slots, held: bool = True) -> None:
        self._slots = slots
        self._held = held

    def release(self) -> None:
        """Give it back; later calls (and calls after hand_over) do nothing."""
        if self._held:
            self._held = False
            self._slots._give_back(1)

    def hand_over(self) -> Slot:
        """Pass the slot to another task without freeing it: the new owner releases it."""
        held, self._held = self._held, False
        return Slot(self._slots, held)
