"""`python -m chat`: run one chat worker, configured from the environment (see chat/config.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from importlib import metadata

from chat import emf
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


HELP = """\
Run one chat worker (one ECS task): the Socket.IO chat, its page and /healthz, on HOST:PORT.

It takes no arguments: it is configured from the environment, as on Fargate. The main variables:
  HOST, PORT                      where it listens (default 0.0.0.0:3000)
  REDIS_ENDPOINT, REDIS_PORT      the ElastiCache endpoint, as the task definition sets it; or REDIS_URL;
                                  neither: an embedded fakeredis (one worker only)
  REDIS_PASSWORD, REDIS_TLS       for an ElastiCache with AUTH / in-transit encryption
  PING_INTERVAL, PING_TIMEOUT     the Engine.IO heartbeat in seconds (4, 8)
  MESSAGE_RATE, PUBLISH_TIMEOUT   limits; LOG_LEVEL (INFO); see the README's Configuration table for all
A wrong value stops the worker with an error naming the variable.
"""


def _arguments(argv: list[str] | None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chat",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.parse_args(argv)


def _version() -> str:
    try:
        return metadata.version("fargate-chat")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    _arguments(argv)  # --help / --version print and exit; anything else is an error (exit 2)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"chat: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    emf.log_to_stdout()  # METRICS_NAMESPACE's lines: bare JSON on stdout, for CloudWatch Logs (chat.emf)
    with _runner() as runner:
        runner.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
