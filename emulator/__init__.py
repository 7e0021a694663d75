"""The whole Fargate deployment of the chat on one machine, offline.

Map of the package (the rooms of ARCHITECTURE.md; import-linter contracts in pyproject.toml enforce who imports whom):

- `model`       inert, typed description of the deployed service (shared by every room)
- `clock`       the Clock seam (wall, scaled, virtual); control code never sleeps on its own
- `tasks`       named, referenced background tasks that are logged when they die (shared by every room)
- `aws/`        the one door to moto and boto3: deploy the CloudFormation stacks, custom models for what
                moto drops, and the reader that turns deployed stacks into a `model.ServiceDescription`
- `scaling/`    pure decisions: alarm evaluation, step and target-tracking scaling, cooldowns, reconcile
- `alb/`        target group state, health checks, sticky routing (pure) and the HTTP/WebSocket proxy
- `cluster/`    chat workers (in-process or OS processes): start, stop, replace, report CPU
- `autoscaler`  the live control loop on a Clock
- `sim/`        the same control code in virtual time over a load file
- `loadgen/`    a load generator that speaks Engine.IO / Socket.IO itself, and a client that reconnects and
                recovers its session the way the official client does
- `chaos/`      fault injection: one scenario (kill-task, kill-all, freeze-task, restart-redis, stop-redis,
                scale-in) while clients chat, and the ledger that says what was acked, delivered, lost
- `supervisor`  `chat-emulator up`'s wiring: account, cluster, load balancer, autoscaler, admin view
- `control`, `admin`, `snapshot`, `dashboard`  the supervisor's edges: CPU and message meters, the moto
                write queue and admin endpoint, the status snapshot, the live terminal dashboard
- `cli`, `commands/`  `chat-emulator` and its sub-commands (deploy, up, status, simulate, load, chaos)
"""
