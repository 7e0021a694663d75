"""The whole Fargate deployment of the chat on one machine, offline.

Map of the package (see DESIGN.md for what each room may import):

- `model`       inert, typed description of the deployed service (shared by every room)
- `aws/`        the one door to moto and boto3: deploy the CloudFormation stacks, custom models for what
                moto drops, and the reader that turns deployed stacks into a `model.ServiceDescription`
- `scaling/`    pure decisions: alarm evaluation, step and target-tracking scaling, cooldowns, reconcile
- `clock`       the Clock seam (wall, scaled, virtual); control code never sleeps on its own
- `alb/`        target group state, health checks, sticky routing (pure) and the HTTP/WebSocket proxy
- `cluster/`    chat workers (in-process or OS processes): start, stop, replace, report CPU
- `autoscaler`  the live control loop on a Clock
- `sim/`        the same control code in virtual time over a load file
- `cli`         `chat-emulator` and its sub-commands
"""
