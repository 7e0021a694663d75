"""Target-group health checks: `GET HealthCheckPath` on every target, every interval, on a Clock.

Each round checks every registered target that is not draining, concurrently; a check that does not
answer within HealthCheckTimeoutSeconds (clock time) fails with `Target.Timeout`, a status outside the
matcher with `Target.ResponseCodeMismatch`, a refused or broken connection with
`Target.FailedHealthChecks`. The target group turns results into states with the threshold counts.

A new target becomes `healthy` after its first passing check: "After your target is registered, it must
pass one health check to be considered healthy" (ALB guide, "Health checks for your target groups"); a
target coming back from `unhealthy` needs HealthyThresholdCount consecutive successes. Rounds run every
interval from `run()`'s start, so a new worker is healthy at the first round after it listens (0-6 s
with the template's 6 s interval). Until then it takes no requests: the group fails open only when
every registered target is unhealthy (see `router`).
"""

from __future__ import annotations

import asyncio
import logging

import h11

from emulator.alb.target_group import (
    FAILED_HEALTH_CHECKS,
    RESPONSE_CODE_MISMATCH,
    TIMEOUT,
    HealthCheckResult,
    TargetGroup,
    TargetHealthDescription,
    TargetState,
)
from emulator.clock import Clock
from emulator.tasks import TaskSet

log = logging.getLogger("emulator.alb")
USER_AGENT = "ELB-HealthChecker/2.0"


def parse_matcher(matcher: str) -> frozenset[int]:
    """AWS matcher syntax: "200", "200,202", "200-299" (HttpCode)."""
    codes: set[int] = set()
    for part in matcher.replace(" ", "").split(","):
        low, sep, high = part.partition("-")
        codes.update(range(int(low), int(high) + 1) if sep else (int(low),))
    return frozenset(codes)


async def probe(host: str, port: int, path: str, codes: frozenset[int]) -> HealthCheckResult:
    """One health check request, with no timeout of its own."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        return HealthCheckResult(False, FAILED_HEALTH_CHECKS, f"Health checks failed: {exc}")
    try:
        status = await _get_status(reader, writer, f"{host}:{port}", path)
    except (OSError, h11.ProtocolError) as exc:
        return HealthCheckResult(False, FAILED_HEALTH_CHECKS, f"Health checks failed: {exc!r}")
    finally:
        writer.close()
    if status in codes:
        return HealthCheckResult(True)
    return HealthCheckResult(
        False, RESPONSE_CODE_MISMATCH, f"Health checks failed with these codes: [{status}]"
    )


async def _get_status(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, authority: str, path: str
) -> int:
    conn = h11.Connection(h11.CLIENT)
    headers = [("Host", authority), ("User-Agent", USER_AGENT), ("Connection", "close")]
    writer.write(conn.send(h11.Request(method="GET", target=path, headers=headers)) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
        elif isinstance(event, h11.Response):
            return event.status_code
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionResetError("connection closed before a response")


class HealthChecker:
    def __init__(
        self, target_group: TargetGroup, clock: Clock, *, min_timeout_wall_seconds: float = 0.0
    ) -> None:
        """`min_timeout_wall_seconds`: a floor, in real seconds, under the health check timeout. A scaled clock
        compresses waiting, not the workers' speed: at 60x the template's 5 s timeout would be 83 ms of real
        time, which a busy machine misses, and healthy targets would flap."""
        self.target_group = target_group
        self.clock = clock
        self.min_timeout_wall_seconds = min_timeout_wall_seconds
        self.settings = target_group.settings.health_check
        self.codes = parse_matcher(self.settings.matcher)
        self.rounds = 0
        self._round_done = asyncio.Condition()
        self._tasks = TaskSet()

    async def run(self) -> None:
        """Check every interval until cancelled; each result lasts for the whole interval."""
        try:
            while True:
                started = self.clock.now()
                await self.check_all()
                elapsed = self.clock.now() - started
                await self.clock.sleep(max(0.0, self.settings.interval_seconds - elapsed))
        finally:
            await self._tasks.cancel_all()

    async def check_all(self) -> None:
        """One round: check every target that is not draining, then record the results."""
        targets = [t for t in self.target_group.describe() if t.state is not TargetState.DRAINING]
        results = await asyncio.gather(*(self.check(t) for t in targets))
        for target, result in zip(targets, results, strict=True):
            self.target_group.record_health(target.target_id, result)
        async with self._round_done:
            self.rounds += 1
            self._round_done.notify_all()

    async def wait_rounds(self, count: int) -> None:
        """Wait until `count` rounds have completed in total (for tests and the emulator's start-up)."""
        async with self._round_done:
            await self._round_done.wait_for(lambda: self.rounds >= count)

    async def _timeout(self) -> None:
        """The check's timeout on the clock, but never shorter than the real-time floor."""
        floor = asyncio.sleep(self.min_timeout_wall_seconds)  # deliberately wall time: see __init__
        await asyncio.gather(self.clock.sleep(self.settings.timeout_seconds), floor)

    async def check(self, target: TargetHealthDescription) -> HealthCheckResult:
        """One check of one target, timed out on the clock."""
        name = f"alb-health-{target.target_id}"
        request = self._tasks.spawn(probe(target.host, target.port, self.settings.path, self.codes), name)
        timer = self._tasks.spawn(self._timeout(), f"{name}-timeout")
        try:
            await asyncio.wait({request, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            request.cancel()
            timer.cancel()
        if request.done() and not request.cancelled():
            result: HealthCheckResult = request.result()
            return result
        return HealthCheckResult(False, TIMEOUT, "Request timed out")
