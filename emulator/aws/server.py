"""`python -m emulator.aws.server`: a moto server with the emulator's CloudFormation models.

Other processes, `chat-emulator deploy --endpoint-url` and the AWS CLI (`--endpoint-url`) then share one
emulated account in which the deployment's alarms, autoscaling, ElastiCache and Fargate settings survive.
Stop it with Ctrl+C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence

from emulator.aws.account import moto_server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator.aws.server", description=__doc__, allow_abbrev=False
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with moto_server(args.host, args.port) as endpoint_url:
        print(f"moto server with the emulator's models at {endpoint_url} (Ctrl+C stops it)", flush=True)
        while not stop.wait(0.5):
            pass
        print("stopping", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
