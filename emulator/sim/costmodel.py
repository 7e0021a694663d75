"""The chat's cost model: what connections and messages cost a task in CPU and memory, and the ALB in bytes.

A load in the chat's own terms is, per minute, `connections` open Socket.IO sessions and `messages_per_s`
messages sent by them. The chat is one room: every message is delivered to every other user. A task holding
`c` of the `C` connections then uses

    vCPU(c)   = c x vcpu_per_connection                          heartbeats, presence
              + M x c x (1 - 1/C) x cpu_seconds_per_delivery      its share of the M x (C - 1) deliveries per second
              + M x c / C x cpu_seconds_per_message               the messages its own users send (ack, publish)
    memory(c) = base_memory_mib + c x memory_mib_per_connection

Both are linear in `c`, so the service's total is the same however the ALB spread the connections:
`demand_vcpu(C, M)` is what a `minute,demand_vcpu` load file says directly, and a `connections` load and its
`demand_vcpu` equivalent give the same CPUUtilization average, hence the same scaling decisions (until a task
is capped at its vCPU). What the model leaves out: the part of a message's cost every worker pays (reading it
from the Redis stream, framing it once), which `cpu_seconds_per_message` counts once as measured on one worker
(with N tasks it undercounts by up to (N - 1) x M x that part); the sender's upload bytes; long-polling clients;
typing notices.

The figures come from `chat-emulator calibrate`, which runs the load generator against a real worker and
writes a file of this shape; `DEFAULT_CALIBRATION` (in the package) says where, when and on what it was measured.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

SCHEMA = "fargate-chat/cost-model/1"
DEFAULT_CALIBRATION = Path(__file__).with_name("calibration.json")


class CostModelError(ValueError):
    """A calibration file that does not follow the cost-model schema."""


@dataclass(frozen=True)
class Measured:
    """Where a cost model comes from: enough for someone else to re-run it and compare."""

    date: str  # ISO 8601 (UTC)
    machine: str  # CPU model, cores, OS
    command: str  # the command line that measured it
    load: str = ""  # the loads it ran, in words
    notes: str = ""


@dataclass(frozen=True)
class CostModel:
    cpu_seconds_per_delivery: float  # worker CPU to deliver one broadcast to one connection
    cpu_seconds_per_message: float  # worker CPU per message accepted from a sender (ack, Redis publish)
    vcpu_per_connection: float  # CPU one open, idle connection keeps busy (heartbeats, presence)
    memory_mib_per_connection: float  # worker memory one open connection holds
    base_memory_mib: float  # a worker's memory with no connection
    bytes_per_delivery: float  # bytes of one delivered frame (server to client), what the ALB processes
    bytes_per_connection_second: float  # heartbeat bytes per open connection per second
    measured: Measured

    # -- the model -----------------------------------------------------------------------------------
    def deliveries_per_s(self, connections: float, messages_per_s: float) -> float:
        """Every message goes to every other user: M x (C - 1)."""
        return messages_per_s * max(0.0, connections - 1.0) if connections > 0 else 0.0

    def task_vcpu(self, task_connections: float, connections: float, messages_per_s: float) -> float:
        """The vCPU a task holding `task_connections` of the service's `connections` uses (not capped)."""
        if connections <= 0 or task_connections <= 0:
            return 0.0
        share = task_connections / connections
        return (
            task_connections * self.vcpu_per_connection
            + share * self.deliveries_per_s(connections, messages_per_s) * self.cpu_seconds_per_delivery
            + share * messages_per_s * self.cpu_seconds_per_message
        )

    def demand_vcpu(self, connections: float, messages_per_s: float) -> float:
        """The service's total vCPU for this load, however it is spread over tasks."""
        return self.task_vcpu(connections, connections, messages_per_s)

    def task_memory_mib(self, task_connections: float) -> float:
        return self.base_memory_mib + task_connections * self.memory_mib_per_connection

    def bytes_per_s(self, connections: float, messages_per_s: float) -> float:
        """Bytes per second the ALB processes for this load."""
        return (
            self.deliveries_per_s(connections, messages_per_s) * self.bytes_per_delivery
            + connections * self.bytes_per_connection_second
        )

    # -- the file ------------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")

    @staticmethod
    def read(path: Path = DEFAULT_CALIBRATION) -> CostModel:
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CostModelError(f"{path}: not JSON: {exc}") from exc
        return CostModel.from_dict(data, str(path))

    @staticmethod
    def from_dict(data: Any, source: str = "cost model") -> CostModel:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise CostModelError(f'{source}: expected a JSON object with "schema": "{SCHEMA}"')
        numbers: dict[str, float] = {}
        for f in fields(CostModel):
            if f.name == "measured":
                continue
            value = data.get(f.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise CostModelError(f"{source}: {f.name} must be a number >= 0, got {value!r}")
            numbers[f.name] = float(value)
        measured = data.get("measured")
        names = {f.name for f in fields(Measured)}
        if not isinstance(measured, dict) or not {"date", "machine", "command"} <= measured.keys():
            raise CostModelError(f"{source}: measured must say date, machine and command")
        return CostModel(
            **numbers, measured=Measured(**{k: str(v) for k, v in measured.items() if k in names})
        )
