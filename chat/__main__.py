"""`python -m chat`: run one chat worker, configured from the environment (see chat/config.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from chat.config import ConfigError, Settings
from chat.server import ChatWorker

log = logging.getLogger("chat")


async def run(settings: Settings) -> None:
    worker = ChatWorker(settings)
    await worker.start()
    print(f"chat worker listening on {worker.url}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: closing connections")
    await worker.stop()


def _runner() -> asyncio.Runner:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.Runner()
    return asyncio.Runner(loop_factory=uvloop.new_event_loop)


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"chat: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with _runner() as runner:
        runner.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
