"""`chat-emulator chaos`: one fault injected into the emulated deployment while clients chat; what they saw.

Map:

- `ledger`     pure arithmetic: what was sent, acked, refused; what each receiver got and when its session was
               unbroken; delivered / lost / duplicated / out of order (`Ledger.tally()`)
- `scenarios`  the faults (`SCENARIOS`): kill-task, kill-all, freeze-task, restart-redis, stop-redis, scale-in,
               rolling-deployment; each injects itself through a `Deployment`
- `faults`     the `Deployment` seam (tasks, signals, the private Redis, the ECS desired count and deployments,
               the load balancer's connection counter) and `EmulatorDeployment`, that seam over a started `Emulator`
- `driver`     `ChaosRun`: clients through the load balancer (`emulator.loadgen.reconnecting`), senders with the
               chat's ack contract, the fault, the wait until every client is back, the settle period
- `official`   optional receivers that are the official JavaScript client (socket.io-client in Node)
- `report`     `ChaosReport`: the tally plus reconnections, moves, the reconnect storm; text and JSON

It is a client of the deployment plus a pair of hands on it: it imports the supervisor and the load generator,
never `chat` (import-linter).
"""

from __future__ import annotations

from emulator.chaos.driver import ChaosError, ChaosRun, ChaosSettings
from emulator.chaos.faults import Deployment, EmulatorDeployment, FaultError
from emulator.chaos.ledger import Ledger, Tally
from emulator.chaos.report import ChaosReport
from emulator.chaos.scenarios import SCENARIOS, Scenario

__all__ = [
    "SCENARIOS",
    "ChaosError",
    "ChaosReport",
    "ChaosRun",
    "ChaosSettings",
    "Deployment",
    "EmulatorDeployment",
    "FaultError",
    "Ledger",
    "Scenario",
    "Tally",
]
