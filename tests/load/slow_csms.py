"""A CSMS (the `ocpp` package) that is slow for chosen charge boxes: it holds their Heartbeats until released.

The test decides when the slow CSMS answers (`release.set()`), so nothing waits on the clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result as r16

from tests.peers import Csms, CsmsCp16, now


@dataclass
class SlowCsms:
    """The CSMS, the event that lets it answer held Heartbeats, and what happened in order."""

    csms: Csms
    release: asyncio.Event
    #: ("csms answers", charge box id) each time a held Heartbeat is let go; tests add their own events.
    events: list[tuple[str, str]] = field(default_factory=list)

    def heartbeats_from(self, charge_box_id: str) -> int:
        """Heartbeat CALLs the CSMS has received from this charge box so far."""
        frames = [json.loads(frame) for frame in self.csms.links[charge_box_id].recorder.received]
        return sum(frame[0] == 2 and frame[2] == "Heartbeat" for frame in frames)


async def start_slow_csms(held: Iterable[str]) -> SlowCsms:
    """A started 1.6/2.0.1 CSMS that holds 1.6 Heartbeats of the charge boxes in `held` until released."""
    held = frozenset(held)
    release = asyncio.Event()
    events: list[tuple[str, str]] = []

    class HoldingCp16(CsmsCp16):
        @on("Heartbeat")
        async def heartbeat(self, **kw: Any) -> r16.Heartbeat:
            self._record("Heartbeat", kw)
            if self.id in held:
                await release.wait()
                events.append(("csms answers", self.id))
            return r16.Heartbeat(current_time=now())

    class HoldingCsms(Csms):
        cp16_class = HoldingCp16

    return SlowCsms(await HoldingCsms().start(), release, events)


async def stop_slow_csms(slow: SlowCsms) -> None:
    slow.release.set()  # held handlers finish before the server stops
    await slow.csms.stop()
