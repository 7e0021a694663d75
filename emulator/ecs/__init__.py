"""The ECS service scheduler: one copy, the same live and in `simulate` (pure: no I/O, no await).

Map of the package:

- `model`      its vocabulary: ServiceSpec in, TaskReport / TargetReport in, Commands out, ServiceStatus out
- `scheduler`  `ServiceScheduler.step(...)`: task lifecycle, rolling deployments, circuit breaker, stop order
- `rolling`    the launch / stop plan within maximumPercent / minimumHealthyPercent; the breaker's threshold
- `wording`    ECS's words: service events, stoppedReason, rolloutStateReason
"""
