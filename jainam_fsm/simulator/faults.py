"""Fault switches that are plain state: stalls, refused logins, rejected credentials, slow REST.

Faults that act on connections (sever, down, restart, disconnect) live with the listener in
:mod:`.server`; this module only answers "is this fault on now?" for the REST side and the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

__all__ = ["FaultSwitches"]


class FaultSwitches:
    """The switch board. Times are ``time.monotonic()`` deadlines."""

    def __init__(self) -> None:
        self.stalled_until: float | None = None
        self.logins_refused_until = 0.0
        self.credentials_rejected = False
        self.rest_delay = 0.0
        #: True while the listener is down (no data is emitted meanwhile)
        self.down = False
        # Set at stop: a delayed REST answer ends at once instead of holding the shutdown.
        self._stopping = asyncio.Event()

    def stall(self, seconds: float | None) -> None:
        """No data events for ``seconds`` (``None`` = until :meth:`unstall`)."""
        self.stalled_until = float("inf") if seconds is None else time.monotonic() + seconds

    def unstall(self) -> None:
        self.stalled_until = None

    def is_stalled(self) -> bool:
        until = self.stalled_until
        return until is not None and time.monotonic() < until

    def reject_logins(self, seconds: float) -> None:
        self.logins_refused_until = time.monotonic() + max(0.0, seconds)

    def logins_refused(self) -> bool:
        return time.monotonic() < self.logins_refused_until

    def set_rest_delay(self, seconds: float) -> None:
        self.rest_delay = max(0.0, seconds)

    async def delay_rest(self) -> bool:
        """Wait out the REST delay; False when the simulator stopped meanwhile."""
        if self.rest_delay <= 0:
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.rest_delay)
        return not self._stopping.is_set()

    def stopping(self) -> None:
        """The simulator is stopping: release every delayed REST answer."""
        self._stopping.set()
