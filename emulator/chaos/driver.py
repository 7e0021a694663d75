"""One chaos run: clients through the load balancer, steady traffic, one fault, and what the clients saw.

Phases, on the deployment's clock (real time):

1. every client connects through the load balancer and logs in (`ReconnectingClient`: WebSocket, its own cookie
   jar, connection-state recovery, socket.io-client's reconnection backoff);
2. the senders send `new message` at `rate` per second each, one at a time: `("text", {"id": unique})`, the next
   only once the previous one is acked or finally refused. `{"ok": true}` (also with `"duplicate": true`) is
   acked; `{"ok": false, "retry": true}` is resent with the same id after a short backoff; any other
   `{"ok": false}` is refused; no ack within `ack_timeout`, or a lost connection, means sending the same message
   again (after the reconnection): at-least-once, like the official client's `ackTimeout` + `retries`;
3. after `before` seconds the scenario injects its fault and returns when the fault is over;
4. the run waits until every client has a session again (at most `recovery_timeout`), keeps the traffic going
   for `after` more seconds, stops the senders (a message in flight gets `settle` seconds to be acked, then is
   given up as unacked), and waits `settle` seconds for the last deliveries;
5. the ledger's tally, the clients' reconnections, the tasks they were on (from the `AWSALB` cookie) and the load
   balancer's connection counter (sampled every 0.1 s) become the `ChaosReport`.

Every client is also a receiver: a message is owed to every client but its sender (see `emulator.chaos.ledger`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from emulator.chaos.faults import Deployment
from emulator.chaos.ledger import Ledger, Sent
from emulator.chaos.report import ChaosReport, ClientRecord, build_report
from emulator.chaos.scenarios import Scenario, Timeline
from emulator.loadgen.reconnecting import NotConnected, ReconnectingClient
from emulator.tasks import TaskSet, wait_or_timeout

SAMPLE_SECONDS = 0.1
RETRY_BACKOFF = (0.25, 0.5, 1.0, 2.0)  # after a retryable refusal, then the last one again


class ChaosError(RuntimeError):
    """The run could not be carried out (clients could not log in, the fault could not be injected)."""


@dataclass(frozen=True)
class ChaosSettings:
    senders: int = 4
    receivers: int = 8
    rate: float = 4.0  # messages per second per sender
    before: float = 3.0  # seconds of traffic before the fault
    after: float = 5.0  # seconds of traffic once every client is back
    settle: float = 5.0  # seconds for the last acks and deliveries
    seconds: float | None = None  # how long a lasting fault lasts (None: the scenario's default)
    ack_timeout: float = 5.0
    recovery_timeout: float = 60.0
    connect_timeout: float = 10.0
    run: str = "run"

    def check(self) -> None:
        if self.senders < 1 or self.receivers < 0:
            raise ValueError("need --senders >= 1 and --receivers >= 0")
        if self.rate <= 0 or self.ack_timeout <= 0 or self.recovery_timeout <= 0:
            raise ValueError("need --rate, --ack-timeout and --recovery-timeout > 0")
        if min(self.before, self.after, self.settle) < 0 or (self.seconds is not None and self.seconds < 0):
            raise ValueError("need --before, --after, --settle and --seconds >= 0")


class Participant(Protocol):
    """A client of the run, whatever speaks for it."""

    name: str
    sticky: str | None
    recovered: int
    not_recovered: int
    last_error: str

    @property
    def connected(self) -> bool: ...

    async def wait_connected(self) -> None: ...

    async def run(self) -> None: ...

    async def close(self) -> None: ...


@dataclass
class Observer:
    """The clients' `Listener`: feeds the ledger and keeps each client's sessions and losses."""

    ledger: Ledger
    records: dict[str, ClientRecord] = field(default_factory=dict)
    closed: bool = False  # the run is over: the clients closing their connections is not a fault's doing

    def record(self, name: str, kind: str = "python") -> ClientRecord:
        return self.records.setdefault(name, ClientRecord(name, kind))

    def session_started(self, client: Any, at: float, recovered: bool) -> None:
        if self.closed:
            return
        self.ledger.receiver(client.name).session_started(at, recovered)
        self.record(client.name).sessions.append((at, recovered, client.sticky))

    def connection_lost(self, client: Any, at: float, reason: str) -> None:
        if self.closed:
            return
        self.ledger.receiver(client.name).connection_lost()
        self.record(client.name).losses.append((at, reason))

    def message(self, client: Any, at: float, text: str) -> None:
        if self.closed:
            return
        self.ledger.received(client.name, text)


class ChaosRun:
    """Drive one scenario against `deployment` through the load balancer at `url`."""

    def __init__(
        self,
        deployment: Deployment,
        scenario: Scenario,
        settings: ChaosSettings,
        url: str,
        *,
        describe: dict[str, Any] | None = None,
    ) -> None:
        if scenario.inject is None:
            raise ChaosError(f"{scenario.name}: {scenario.unavailable}")
        self.deployment = deployment
        self.scenario = scenario
        self.settings = settings
        self.clock = deployment.clock
        self.ledger = Ledger(settings.run)
        self.observer = Observer(self.ledger)
        self.describe = describe or {}
        self.senders = [self._client(f"s{i}", url) for i in range(settings.senders)]
        self.receivers = [self._client(f"r{i}", url) for i in range(settings.receivers)]
        self.participants: list[Participant] = [*self.senders, *self.receivers]
        self.timeline = Timeline(self.clock, self.clock.now())
        self.samples: list[tuple[float, int]] = []
        self._stop_sending = asyncio.Event()
        self._abandon = asyncio.Event()
        self._tasks = TaskSet()

    def add_participants(self, participants: Sequence[Participant], kind: str = "official") -> None:
        """More receivers, driven by someone else (they report to `self.observer`)."""
        for participant in participants:
            self.observer.record(participant.name, kind)
            self.participants.append(participant)

    def _client(self, name: str, url: str) -> ReconnectingClient:
        self.observer.record(name)
        return ReconnectingClient(
            name,
            url,
            self.observer,
            username=f"{self.settings.run}-{name}",
            clock=self.clock,
            connect_timeout=self.settings.connect_timeout,
        )

    # ---- the run ------------------------------------------------------------------------------------

    async def run(self) -> ChaosReport:
        settings, clock = self.settings, self.clock
        seconds = self.scenario.default_seconds if settings.seconds is None else settings.seconds
        assert self.scenario.inject is not None
        fault_at = end = stopped = clock.now()
        for participant in self.participants:
            self._tasks.spawn(participant.run(), f"chaos-client-{participant.name}")
        try:
            await self._all_logged_in()
            self._tasks.spawn(self._sample_alb(), "chaos-alb-sampler")
            sending = [self._tasks.spawn(self._send_loop(c), f"chaos-sender-{c.name}") for c in self.senders]
            await clock.sleep(settings.before)
            fault_at = clock.now()
            try:
                await self.scenario.inject(self.deployment, seconds, self.timeline)
            except Exception as exc:
                raise ChaosError(f"{self.scenario.name}: {exc}") from exc
            await self._until_all_back(fault_at)
            await clock.sleep(settings.after)
            self._stop_sending.set()
            stopped = clock.now()
            self.timeline.note("senders stop")
            await wait_or_timeout(asyncio.gather(*sending), clock.sleep(settings.settle))
            self._abandon.set()
            await clock.sleep(settings.settle)
            end = clock.now()
        finally:
            self._abandon.set()
            self._stop_sending.set()
            self._close_books()
            await asyncio.gather(*(p.close() for p in self.participants), return_exceptions=True)
            await self._tasks.wait(timeout=5.0)
            await self._tasks.cancel_all()
        return self._report(fault_at, stopped, end, seconds)

    async def _all_logged_in(self) -> None:
        waits = [asyncio.ensure_future(p.wait_connected()) for p in self.participants]
        deadline = self.settings.connect_timeout * 3
        _, pending = await asyncio.wait(waits, timeout=deadline)
        for future in pending:
            future.cancel()
        if pending:
            failed = [p for p in self.participants if not p.connected]
            reasons = "; ".join(f"{p.name}: {p.last_error or 'no answer'}" for p in failed[:3])
            raise ChaosError(
                f"{len(failed)} of {len(self.participants)} clients could not log in ({reasons})"
            )
        self.timeline.note(f"{len(self.participants)} clients logged in; senders start")

    async def _until_all_back(self, fault_at: float) -> None:
        """Until every client has a session (give a fault half a second to be noticed), or the timeout."""
        clock, timeout = self.clock, self.settings.recovery_timeout
        await clock.sleep(0.5)
        while not all(p.connected for p in self.participants):
            if clock.now() - fault_at > timeout:
                missing = sum(not p.connected for p in self.participants)
                self.timeline.note(
                    f"{missing} clients still without a session, {timeout:g} s after the fault"
                )
                return
            await clock.sleep(SAMPLE_SECONDS)
        self.timeline.note("every client has a session")

    async def _sample_alb(self) -> None:
        while True:
            self.samples.append((self.clock.now(), self.deployment.alb_connections()))
            await self.clock.sleep(SAMPLE_SECONDS)

    # ---- senders ------------------------------------------------------------------------------------

    async def _send_loop(self, client: ReconnectingClient) -> None:
        interval = 1.0 / self.settings.rate
        due = self.clock.now()
        seq = 0
        while not self._stop_sending.is_set():
            wait = due - self.clock.now()
            if wait > 0 and await self._wait(self._stop_sending, wait):
                break
            message = self.ledger.new_message(client.name, seq)
            seq += 1
            await self._deliver(client, message)
            due = max(due + interval, self.clock.now())  # no burst to catch up after an outage

    async def _deliver(self, client: ReconnectingClient, message: Sent) -> None:
        """Send until acked or finally refused (at-least-once), or until the run gives up."""
        retries = 0
        while not self._abandon.is_set():
            if not client.connected:
                if await self._wait(self._abandon, None, client):
                    return
                continue
            self.ledger.attempt(message.message_id, self.clock.now())
            try:
                ack = await client.call(
                    "new message", message.text, {"id": message.message_id}, timeout=self.settings.ack_timeout
                )
            except (TimeoutError, NotConnected):
                continue  # the same message again, on this connection or the next one
            answer = ack[0] if ack and isinstance(ack[0], dict) else {}
            if answer.get("ok") is True:
                self.ledger.acked(
                    message.message_id, self.clock.now(), duplicate=bool(answer.get("duplicate"))
                )
                return
            if answer.get("retry") is True:
                self.ledger.retry_refused(message.message_id)
                pause = RETRY_BACKOFF[min(retries, len(RETRY_BACKOFF) - 1)]
                retries += 1
                if await self._wait(self._abandon, pause):
                    return
                continue
            self.ledger.refused(message.message_id, str(answer.get("error", answer)))
            return

    async def _wait(
        self, event: asyncio.Event, seconds: float | None, client: ReconnectingClient | None = None
    ) -> bool:
        """Wait `seconds` (or, with `client`, until it is connected); True when `event` was set first."""
        stop = asyncio.ensure_future(event.wait())
        other = asyncio.ensure_future(
            client.wait_connected() if client is not None else self.clock.sleep(seconds or 0)
        )
        try:
            await asyncio.wait({stop, other}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            other.cancel()
        return event.is_set()

    # ---- the report ---------------------------------------------------------------------------------

    def _close_books(self) -> None:
        """The run is over: what each client is now goes into its record; later events are not recorded."""
        self.observer.closed = True
        for participant in self.participants:
            record = self.observer.records[participant.name]
            record.recovered, record.not_recovered = participant.recovered, participant.not_recovered
            record.last_error = participant.last_error
            record.connected_at_end = participant.connected

    def _report(self, fault_at: float, stopped: float, end: float, seconds: float) -> ChaosReport:
        origin = self.timeline.origin
        return build_report(
            scenario=self.scenario,
            settings=self.settings,
            seconds=seconds,
            tally=self.ledger.tally(origin),
            acked_at=[m.acked_at for m in self.ledger.messages.values() if m.acked_at is not None],
            records=list(self.observer.records.values()),
            task_of=self.deployment.task_of,
            samples=self.samples,
            timeline=self.timeline.events,
            origin=origin,
            fault_at=fault_at,
            senders_stopped=stopped,
            end=end,
            deployment=self.describe,
        )
