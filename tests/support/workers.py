"""Chat workers for tests: `python -m chat` OS processes, stopped by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from conftest import free_port, wait_for_port


@dataclass
class WorkerProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(redis_url: str | None, key_prefix: str, **env: str) -> WorkerProcess:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    environment.update({"PORT": str(port), "HOST": "127.0.0.1", "REDIS_KEY_PREFIX": key_prefix, **env})
    if redis_url is not None:
        environment["REDIS_URL"] = redis_url
    process = subprocess.Popen([sys.executable, "-m", "chat"], env=environment, stderr=_worker_log(port))
    worker = WorkerProcess(port, process)
    try:
        wait_for_port("127.0.0.1", port)
    except TimeoutError:
        worker.kill()
        raise
    return worker


def metric(text: str, name: str) -> float:
    """One value of a worker's `/metrics` text (Prometheus format, no labels)."""
    [value] = [line.split()[1] for line in text.splitlines() if line.startswith(f"{name} ")]
    return float(value)


def _worker_log(port: int) -> Any:
    """Where a worker's log goes: $CHAT_TEST_LOGS/worker-PORT.log when set, else nowhere."""
    folder = os.environ.get("CHAT_TEST_LOGS")
    if not folder:
        return subprocess.DEVNULL
    os.makedirs(folder, exist_ok=True)
    return open(os.path.join(folder, f"worker-{port}.log"), "wb")


def stop_process_tree(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL a process we started (an `up`, a `chaos`) and every process under it, by PID; then reap it."""
    import psutil

    if proc.poll() is None:
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
        proc.kill()
    proc.wait(10)
