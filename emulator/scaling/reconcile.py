"""ECS's deployment arithmetic, one copy (reference 4.5): MaximumPercent and MinimumHealthyPercent as task counts.

`emulator.ecs.rolling` (the ECS service scheduler's launch / stop plan) uses both, live and in `simulate`.
"""

from __future__ import annotations

import math


def maximum_tasks(desired: int, maximum_percent: int) -> int:
    """RUNNING + PENDING (+ stopping) upper limit, rounded down (200 % of 4 = 8; 125 % of 3 = 3)."""
    return desired * maximum_percent // 100


def minimum_healthy_tasks(desired: int, minimum_healthy_percent: int) -> int:
    """Healthy RUNNING lower limit, rounded up (50 % of 4 = 2; 75 % of 2 = 2)."""
    return math.ceil(desired * minimum_healthy_percent / 100)
