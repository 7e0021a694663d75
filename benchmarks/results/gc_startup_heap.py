"""How many objects a started worker holds for the garbage collector, and what one full collection of them costs.

    .venv/bin/python benchmarks/results/gc_startup_heap.py

A `ChatWorker` on the embedded fakeredis, no client: its start-up heap, and a full collection with it frozen.
"""

from __future__ import annotations

import asyncio
import gc
import time


async def main() -> None:
    from chat.config import Settings
    from chat.server import ChatWorker

    worker = ChatWorker(Settings.from_env({"PORT": "0", "HOST": "127.0.0.1"}))
    await worker.start()
    try:
        gc.collect()
        tracked = len(gc.get_objects())
        start = time.perf_counter()
        gc.collect()
        ms = (time.perf_counter() - start) * 1000
        print(f"tracked objects in a started worker: {tracked}; one full collection: {ms:.1f} ms")
        gc.freeze()
        start = time.perf_counter()
        gc.collect()
        print(f"after gc.freeze(): one full collection: {(time.perf_counter() - start) * 1000:.1f} ms")
    finally:
        await worker.stop()


if __name__ == "__main__":
    asyncio.run(main())
