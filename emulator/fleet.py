"""The ECS scheduler's hands live: the cluster's workers and the load balancer's target group, as one `Fleet`.

`Launch` / `Terminate` / `Kill` / `Forget` go to the cluster (`emulator.cluster.Cluster`); `Register` (with the
worker's host and port, once it listens) and `Deregister` go to the target group (`emulator.alb.TargetGroup`),
whose health checks and draining the scheduler then reads back. Either side reporting a change wakes the
control loop (`on_change`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from emulator.alb import TargetGroup, TargetState
from emulator.cluster import Cluster
from emulator.ecs.model import Command, Deregister, Register, TargetReport, TaskReport

log = logging.getLogger(__name__)


class LiveFleet:
    def __init__(self, cluster: Cluster, target_group: TargetGroup, on_change: Callable[[], None]) -> None:
        self.cluster, self.target_group = cluster, target_group
        target_group.subscribe(lambda target_id, old, new: on_change())

    def execute(self, command: Command) -> None:
        if isinstance(command, Register):
            endpoint = self.cluster.endpoint(command.task_id)
            if endpoint is None:
                log.warning("task %s has no endpoint to register", command.task_id[:8])
                return
            self.target_group.register(command.task_id, *endpoint)
        elif isinstance(command, Deregister):
            self.target_group.deregister(command.task_id)
        else:
            self.cluster.execute(command)

    def reports(self) -> Mapping[str, TaskReport]:
        return self.cluster.reports()

    def targets(self) -> Mapping[str, TargetReport]:
        return {
            t.target_id: TargetReport(t.state.value, t.reason, t.description)  # type: ignore[arg-type]
            for t in self.target_group.describe()
            if t.state is not TargetState.UNUSED
        }

    def target_health(self) -> tuple[tuple[str, int, str, str | None, str], ...]:
        return tuple(
            (t.target_id, t.port, t.state.value, t.reason, t.description)
            for t in self.target_group.describe()
        )
