"""One rule for every write an ack depends on: retry what may succeed later, refuse the rest at once.

An ack is a promise. A handler that acknowledges a message must first have it in Redis, so each such write goes
through `until_durable()`: connection and timeout errors (Redis restarting, an ElastiCache failover, a network
blip) are retried with capped exponential backoff and jitter until `timeout` seconds have passed, then
`Unavailable` tells the client to retry later (its resend, with the same message id, carries the message).
Anything else (a command Redis refuses, text that cannot be encoded) is `Rejected` at once: retrying it would
fail the same way, and it must never hold up the writes behind it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis import exceptions as redis_errors

T = TypeVar("T")

FIRST_DELAY = 0.05
MAX_DELAY = 1.0
RETRY_FOREVER = float("inf")  # a timeout for writes that must never be given up
MIN_ATTEMPT = 0.5  # seconds one attempt may always take, even with no time left (a "try once")

# Errors after which the same write may succeed: the server is away, busy loading, or a replica during failover.
TRANSIENT: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,  # includes BusyLoadingError (a restarted Redis loading its data)
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,  # a failover in progress: the old primary is now a replica
    redis_errors.TryAgainError,
    redis_errors.MasterDownError,  # a replica that lost its primary during a failover
    redis_errors.ClusterDownError,
    OSError,
    TimeoutError,
)


class Unavailable(Exception):
    """Redis stayed unreachable for the whole timeout: nothing was stored, the client should retry."""


class Rejected(Exception):
    """The write can never succeed as it is (not a transient error): nothing was stored, do not retry."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT)


async def until_durable(
    write: Callable[[], Awaitable[T]],
    timeout: float,
    *,
    on_retry: Callable[[BaseException], None] | None = None,
    abandon: Callable[[], bool] | None = None,
    now: Callable[[], float] = time.monotonic,
) -> T:
    """Run `write` until it succeeds, retrying transient errors for up to `timeout` seconds (one attempt is cut
    short at the deadline too, with at least `MIN_ATTEMPT` seconds). `abandon()` true between attempts gives up
    early (the client that asked went away)."""
    deadline = now() + timeout
    delay = FIRST_DELAY
    while True:
        left = deadline - now()
        try:
            if left == RETRY_FOREVER:
                return await write()
            async with asyncio.timeout(max(left, MIN_ATTEMPT)):  # no extra task, unlike wait_for
                return await write()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise Rejected(f"{type(exc).__name__}: {exc}") from exc
            left = deadline - now()
            if left <= 0 or (abandon is not None and abandon()):
                raise Unavailable(f"Redis unreachable for {timeout:g} s ({type(exc).__name__})") from exc
            if on_retry is not None:
                on_retry(exc)
            await asyncio.sleep(min(left, delay * random.uniform(0.5, 1.0)))
            delay = min(MAX_DELAY, delay * 2)
