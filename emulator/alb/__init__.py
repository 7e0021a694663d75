"""The emulator's Application Load Balancer: a target group, its health checks, and a sticky proxy.

Map (aws-scaling-semantics.md §4.6-4.9 and §5 are the rules):

- `target_group` — `TargetGroup`: register / deregister targets; states `initial`, `healthy`,
  `unhealthy`, `draining`, `unused` with AWS reason codes; threshold counting; the deregistration
  delay; open-connection and in-flight counts; `subscribe()` for state changes.
- `health` — `HealthChecker`: `GET HealthCheckPath` every interval with the timeout and matcher, on a Clock.
- `router` — pure routing: healthy targets (fail open only when every registered target is unhealthy), round robin or least outstanding
  requests, `AWSALB` / `AWSALBCORS` stickiness cookies.
- `proxy` — `LoadBalancer`: the listener; closes a target's connections when its draining ends; the idle and
  request-head timeouts, in real seconds whatever the emulated Clock (a live connection's heartbeat is real).
- `session` — one client connection: HTTP/1.1 keep-alive, each request routed on its own, bodies streamed both
  ways, 400 / 408 / 502 / 503.
- `upstream` — one proxy -> target connection. `tunnel` — the byte pumps after a WebSocket upgrade.
- `_compat` — the one asyncio internal (`StreamReader._buffer`) the tunnel needs, checked.
- `http` — h11 helpers, what the ALB refuses (HTTP/1.0 without Host, desync mitigation), header rewriting
  (hop-by-hop, one framing header, X-Forwarded-*).

Usage:

    tg = TargetGroup(service.target_group, clock)
    tg.register("task-1", "127.0.0.1", 8001)
    checker = HealthChecker(tg, clock)          # run `checker.run()` as a task
    async with LoadBalancer(tg, port=8080) as lb:   # idle / header timeouts: real seconds
        print(lb.url)
"""

from __future__ import annotations

from emulator.alb.health import HealthChecker
from emulator.alb.proxy import LoadBalancer
from emulator.alb.router import Router
from emulator.alb.target_group import HealthCheckResult, TargetGroup, TargetHealthDescription, TargetState

__all__ = [
    "HealthCheckResult",
    "HealthChecker",
    "LoadBalancer",
    "Router",
    "TargetGroup",
    "TargetHealthDescription",
    "TargetState",
]
