"""One rule for writes an ack depends on (chat/durable.py): retry transient errors, refuse the rest at once."""

from __future__ import annotations

import pytest
from redis import exceptions as redis_errors

from chat.durable import Rejected, Unavailable, until_durable


class Flaky:
    """Fails with `error` the first `failures` calls, then answers "stored"."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error = error
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "stored"


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.ConnectionError("Connection refused"),
        redis_errors.TimeoutError("Timeout reading from socket"),
        redis_errors.BusyLoadingError("Redis is loading the dataset in memory"),
        redis_errors.ReadOnlyError("You can't write against a read only replica."),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
async def test_transient_errors_are_retried_until_the_write_succeeds(error: Exception) -> None:
    write = Flaky(error, failures=3)
    retried: list[BaseException] = []
    assert await until_durable(write, timeout=30, on_retry=retried.append) == "stored"
    assert write.calls == 4 and len(retried) == 3


async def test_a_write_that_keeps_failing_is_unavailable_after_the_timeout() -> None:
    write = Flaky(redis_errors.ConnectionError("Connection refused"), failures=10**9)
    with pytest.raises(Unavailable, match=r"Redis unreachable for 0.3 s \(ConnectionError\)"):
        await until_durable(write, timeout=0.3)
    assert write.calls > 1


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("utf-8", "\udfff", 0, 1, "surrogates not allowed"),
        redis_errors.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        redis_errors.DataError("Invalid input of type: 'dict'"),
    ],
)
async def test_other_errors_are_rejected_at_once_without_a_retry(error: Exception) -> None:
    write = Flaky(error, failures=10**9)
    with pytest.raises(Rejected):
        await until_durable(write, timeout=30)
    assert write.calls == 1


async def test_a_zero_timeout_tries_once() -> None:
    write = Flaky(redis_errors.ConnectionError("down"), failures=1)
    with pytest.raises(Unavailable):
        await until_durable(write, timeout=0)
    assert write.calls == 1
