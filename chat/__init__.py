"""The chat service: the seed's Socket.IO chat, one worker = one ECS task = one `python -m chat`.

Map of the package (it imports neither the emulator nor any AWS SDK: import-linter checks it):

- `config`         settings from the environment; a wrong value names the variable
- `server`         `ChatWorker`: start -> serve -> stop (graceful, SIGTERM) or kill; `__main__` runs one
- `app`            one worker's objects: Socket.IO server, fan-out, presence, sessions, HTTP routes, `/metrics`
- `events`         the seed's protocol: input checks, limits, recovery, exactly-once sends, leaves
- `engine`         python-socketio's AsyncServer with raw frame writes, CONNECT with a session id, slow-client cut-off
- `wire`           WebSocket frames built once and written straight to a connection's transport
- `_compat`        the one seam to python-engineio / python-socketio / uvicorn internals, checked at start-up
- `lean`           `LeanQueue` / `LeanEvent`: asyncio's queue and event without their containers while empty
- `delivery`       who gets a broadcast on this worker: raw or queued writes, slow consumers, recovery hold/replay
- `fanout`         broadcasts through a Redis Stream: publish (buffered through outages), read, dedupe, replay reads
- `emf`            the worker's own CloudWatch metric (ActiveConnections) as embedded-metric-format lines on stdout
- `presence`       cluster-wide numUsers in one sorted set; `sessions`: sessions that outlive a connection
- `limits`         token buckets; `redis_backend`: Redis clients (real or embedded fakeredis)
- `http`           the page, its static files, `/healthz`, `/metrics`
- `client`         `RecoveringClient`: python-socketio's client with connection-state recovery
- `static/`        the web page and its own small Engine.IO / Socket.IO client
"""
