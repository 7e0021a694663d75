"""The calibration's arithmetic (frame sizes, the two equations) and its edges against a real worker on the
machine's Redis: the wire probe, the worker's counters, the worker stopped by PID and its keys removed."""

from __future__ import annotations

import pytest

from emulator.loadgen.calibrate import (
    QUICK,
    CalibrationError,
    Plan,
    Point,
    Window,
    Wire,
    Worker,
    forget_keys,
    frame_bytes,
    probe_wire,
    redis_host_port,
    solve,
)

WIRE = Wire(delivery_frame_bytes=97, message_frame_bytes=52, heartbeat_bytes=10, ping_interval_s=4.0)


def window(
    phase: str,
    clients: int,
    vcpu: float,
    deliveries_per_s: float = 0.0,
    messages_per_s: float = 0.0,
    rss_mib: float = 70.0,
    wall_s: float = 20.0,
) -> Window:
    start = Point(t=100.0, cpu_s=5.0, rss_mib=rss_mib, deliveries=1000.0, messages=10.0)
    end = Point(
        t=100.0 + wall_s,
        cpu_s=5.0 + vcpu * wall_s,
        rss_mib=rss_mib,
        deliveries=1000.0 + deliveries_per_s * wall_s,
        messages=10.0 + messages_per_s * wall_s,
    )
    return Window(0, phase, clients, start, end)


def loads(per_delivery: float, per_message: float, per_connection: float, base: float) -> list[Window]:
    """The four windows a worker with exactly these costs would give."""
    m = 50.0

    def vcpu(c: int) -> float:
        return base + c * per_connection + m * (c - 1) * per_delivery + m * per_message

    return [
        window("base", 0, base, rss_mib=70.0),
        window("idle", 1000, base + 1000 * per_connection, rss_mib=70.0 + 1000 * 0.05),
        window("low", 20, vcpu(20), deliveries_per_s=m * 19, messages_per_s=m),
        window("high", 200, vcpu(200), deliveries_per_s=m * 199, messages_per_s=m),
    ]


def test_frame_bytes_follow_rfc_6455_header_sizes() -> None:
    assert frame_bytes(1, masked=False) == 3  # a ping "2" from the server
    assert frame_bytes(1, masked=True) == 7  # its pong from a client: 4 bytes of mask key more
    assert frame_bytes(125, masked=False) == 127
    assert frame_bytes(126, masked=False) == 130  # 16-bit length
    assert frame_bytes(65535, masked=False) == 65539
    assert frame_bytes(65536, masked=False) == 65546  # 64-bit length


def test_the_two_loads_give_back_the_costs_they_were_made_of() -> None:
    figures, base, clamped = solve(loads(9e-6, 1.4e-3, 8e-5, 0.002), WIRE)
    assert figures.cpu_seconds_per_delivery == pytest.approx(9e-6)
    assert figures.cpu_seconds_per_message == pytest.approx(1.4e-3)
    assert figures.vcpu_per_connection == pytest.approx(8e-5)
    assert figures.memory_mib_per_connection == pytest.approx(0.05)
    assert figures.base_memory_mib == pytest.approx(70.0)
    assert (figures.bytes_per_delivery, figures.bytes_per_connection_second) == (97.0, 2.5)
    assert base == pytest.approx(0.002) and clamped == []


def test_a_cost_measured_below_zero_is_taken_as_zero_and_named() -> None:
    windows = loads(9e-6, 1.4e-3, 8e-5, 0.002)
    windows[1] = window("idle", 1000, 0.001, rss_mib=75.0)  # less CPU than with no connection: noise
    figures, _, clamped = solve(windows, WIRE)
    assert figures.vcpu_per_connection == 0.0 and clamped == ["vcpu_per_connection"]


def test_two_loads_with_one_ratio_of_deliveries_to_messages_cannot_be_solved() -> None:
    windows = loads(9e-6, 1.4e-3, 8e-5, 0.002)
    windows[3] = window("high", 20, 0.1, deliveries_per_s=2 * 50 * 19, messages_per_s=2 * 50)
    with pytest.raises(CalibrationError, match="cannot be told apart"):
        solve(windows, WIRE)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"connections": 0}, "--connections"),
        ({"repeats": 0}, "--repeats"),
        ({"duration": 0.0}, "--duration"),
        ({"low_clients": 5, "senders": 10}, "senders"),
        ({"high_clients": 10}, "low clients < high clients"),
        ({"redis": "redis://127.0.0.1:6379/0"}, "HOST\\[:PORT\\]"),
        ({"redis": "127.0.0.1:99999"}, "HOST\\[:PORT\\]"),
    ],
)
def test_a_plan_that_cannot_be_measured_is_refused(change: dict[str, object], complaint: str) -> None:
    plan = Plan(**change)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=complaint):
        plan.check()


def test_redis_is_a_host_and_port_or_embedded() -> None:
    assert redis_host_port("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert redis_host_port("cache.internal") == ("cache.internal", 6379)
    assert redis_host_port("embedded") is None
    QUICK.check()


@pytest.mark.redis
def test_the_wire_probe_reads_the_workers_own_frames_and_ping_interval(
    shared_redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    monkeypatch.setenv("PING_INTERVAL", "2")  # the worker's setting, read back from its handshake
    worker = Worker("127.0.0.1:6379", key_prefix)
    try:
        worker.wait_listening()
        wire = probe_wire(worker.url)
        counters = worker.counters()
    finally:
        worker.stop()
    assert worker.process.returncode is not None  # stopped, by its PID
    assert wire.ping_interval_s == 2.0
    assert wire.heartbeat_bytes == 3 + 7 and wire.bytes_per_connection_second == 5.0
    # the delivery carries the sender's text, its name and the stream offset: more than the sender's frame
    assert wire.message_frame_bytes - 4 < wire.delivery_frame_bytes < 200
    assert counters["chat_messages_accepted_total"] == 1.0
    assert counters["chat_deliveries_total"] >= 1.0
    client = redis.Redis.from_url(shared_redis_url)
    assert list(client.scan_iter(match=f"{key_prefix}*"))  # the worker's stream and presence are there...
    forget_keys("127.0.0.1:6379", key_prefix)
    assert not list(client.scan_iter(match=f"{key_prefix}*"))  # ...until the calibration removes them
    client.close()
