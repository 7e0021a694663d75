"""One lock over moto, and a counter of the API requests that may change what `read_service` returns.

Checked against moto 5.2.5: every request, from `mock_aws` (botocore's stubber) or from `ThreadedMotoServer`
(werkzeug threads of this process), is answered by `BaseResponse.call_action`. Wrapping it serves each request
under `LOCK`, the one lock that also guards every write the emulator makes straight into moto's backends (the
control loop's thread), so a describe never sees half of a publish. Never make an AWS API call while holding it:
a server request would wait for the lock forever.

After each request whose action is not read-only (Describe*, List*, Get*, ...) nor one that cannot change a
service description (metric data, alarm states, target registrations), `api_changes()` grows by one: the account
re-reads the service only when it has grown since its last read.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

LOCK = threading.RLock()

_READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Batch_Get", "BatchGet", "Validate", "Estimate")
# Writes that change nothing `read_service` reads (alarm states are reported by take_alarm_overrides).
_NOT_SERVICE_CHANGES = frozenset({"PutMetricData", "SetAlarmState", "RegisterTargets", "DeregisterTargets"})

_changes = 0


def api_changes() -> int:
    """How many requests that may change a service description moto has served (in-process and server)."""
    return _changes


def is_change(action: str) -> bool:
    """True for an action that may change what `read_service` returns (AWS action names, PascalCase)."""
    return bool(action) and not action.startswith(_READ_ONLY_PREFIXES) and action not in _NOT_SERVICE_CHANGES


def patch() -> None:
    """Serve every moto request under LOCK and count the changes (idempotent)."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action
    if getattr(original, "_emulator_patched", False):
        return

    @functools.wraps(original)
    def call_action(self: BaseResponse) -> Any:
        global _changes
        action = _action(self)
        with LOCK:
            try:
                return original(self)
            finally:
                if is_change(action):
                    _changes += 1

    call_action._emulator_patched = True  # type: ignore[attr-defined]
    BaseResponse.call_action = call_action  # type: ignore[method-assign]


def _action(response: Any) -> str:
    try:
        return str(response._get_action() or "")
    except Exception:  # an action moto cannot name: count it (a spurious re-read is harmless)
        return "Unknown"
