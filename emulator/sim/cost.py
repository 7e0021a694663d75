"""Dollars, from the dated price table in the package (`prices.json`, which names its sources).

- **Fargate**: each task from its launch (the image pull) until it stops, per second with a one-minute minimum:
  seconds x (vCPU x price per vCPU-hour + GB x price per GB-hour) / 3600, GB = the task's memory MiB / 1024.
  Only the simulated window [0, end] is billed: a task already running at minute 0 is billed from 0.
- **ALB**: the hours of the run x the hourly price, plus LCU-hours. For each clock hour, the LCUs are the largest of
  new connections per second / 25, active connections (per minute) / 3000, GB processed per hour / 1 and rule
  evaluations per second / 1000 (one listener rule: within the 10 free, so 0), averaged over the hour's minutes; a
  partial last hour pays its share. A GB here is 10^9 bytes.
- **ElastiCache**: the one node of the resources stack runs the whole time: hours x its node-hour price.

    prices = PriceTable.read("us-east-1")
    bill = bill_of(prices, fleet_bills, usages, task_vcpu=1, task_memory_mib=2048, node_type="cache.t3.micro", end=t)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.sim.fleet import MinuteUsage, TaskBill

PRICES = Path(__file__).with_name("prices.json")
SCHEMA = "fargate-chat/prices/1"
LCU_NEW_CONNECTIONS_PER_S = 25.0
LCU_ACTIVE_CONNECTIONS = 3000.0
LCU_GB_PER_HOUR = 1.0
GB = 1e9
MINIMUM_BILLED_SECONDS = 60.0


class PriceError(ValueError):
    """The price table has no price for what was asked (a region, a node type)."""


@dataclass(frozen=True)
class PriceTable:
    region: str
    date: str
    fargate_vcpu_hour: float
    fargate_gb_hour: float
    alb_hour: float
    alb_lcu_hour: float
    elasticache_node_hour: Mapping[str, float]
    sources: Mapping[str, str]

    @staticmethod
    def read(region: str = "us-east-1", path: Path = PRICES) -> PriceTable:
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("schema") != SCHEMA:
            raise PriceError(f'{path}: expected "schema": "{SCHEMA}"')
        regions: dict[str, Any] = data["regions"]
        if region not in regions:
            known = ", ".join(PriceTable.regions(path))
            raise PriceError(f"no prices for region {region} in {path.name} (it has {known})")
        r = regions[region]
        return PriceTable(
            region=region,
            date=str(data["date"]),
            fargate_vcpu_hour=float(r["fargate_vcpu_hour"]),
            fargate_gb_hour=float(r["fargate_gb_hour"]),
            alb_hour=float(r["alb_hour"]),
            alb_lcu_hour=float(r["alb_lcu_hour"]),
            elasticache_node_hour={k: float(v) for k, v in r["elasticache_node_hour"].items()},
            sources=dict(data.get("sources", {})),
        )

    @staticmethod
    def regions(path: Path = PRICES) -> list[str]:
        return sorted(json.loads(path.read_text())["regions"])

    def node_hour(self, node_type: str) -> float:
        if node_type not in self.elasticache_node_hour:
            known = ", ".join(sorted(self.elasticache_node_hour))
            raise PriceError(f"no ElastiCache price for {node_type} in {self.region} (the table has {known})")
        return self.elasticache_node_hour[node_type]


@dataclass(frozen=True)
class Bill:
    fargate: float
    alb_hours: float
    alb_lcu: float
    elasticache: float
    lcu_hours: float  # LCU-hours billed
    by_minute: tuple[float, ...]  # the cumulative total at the end of each minute

    @property
    def alb(self) -> float:
        return self.alb_hours + self.alb_lcu

    @property
    def total(self) -> float:
        return self.fargate + self.alb + self.elasticache


def fargate_task_cost(prices: PriceTable, seconds: float, task_vcpu: float, task_memory_mib: float) -> float:
    per_hour = task_vcpu * prices.fargate_vcpu_hour + task_memory_mib / 1024 * prices.fargate_gb_hour
    return seconds * per_hour / 3600


def fargate_by_minute(bills: Sequence[TaskBill], minutes: int) -> list[float]:
    """Billed task-seconds in each minute of [0, minutes x 60); the one-minute minimum of a task that ran less
    falls in the minute it stopped."""
    end = minutes * 60.0
    seconds = [0.0] * minutes
    for bill in bills:
        start, stop = (
            max(0.0, bill.launched_at),
            min(end, end if bill.stopped_at is None else bill.stopped_at),
        )
        if stop <= start:
            continue
        m = int(start // 60)
        while m < minutes and m * 60 < stop:
            seconds[m] += min(stop, (m + 1) * 60) - max(start, m * 60)
            m += 1
        ran = stop - bill.launched_at
        if bill.launched_at >= 0 and bill.stopped_at is not None and ran < MINIMUM_BILLED_SECONDS:
            seconds[min(minutes - 1, int(stop // 60))] += MINIMUM_BILLED_SECONDS - ran
    return seconds


def lcus_of_hour(usages: Sequence[MinuteUsage]) -> float:
    """The LCUs of one clock hour (its minutes): the largest dimension, averaged over the hour."""
    if not usages:
        return 0.0
    n = len(usages)
    new_per_s = sum(u.new_connections for u in usages) / (n * 60)
    active = sum(u.active_connections for u in usages) / n
    gb_per_hour = sum(u.processed_bytes for u in usages) / GB * 60 / n
    return max(
        new_per_s / LCU_NEW_CONNECTIONS_PER_S,
        active / LCU_ACTIVE_CONNECTIONS,
        gb_per_hour / LCU_GB_PER_HOUR,
    )


def bill_of(
    prices: PriceTable,
    bills: Sequence[TaskBill],
    usages: Sequence[MinuteUsage],
    *,
    task_vcpu: float,
    task_memory_mib: float,
    node_type: str | None,
) -> Bill:
    """What the run over `usages` (one per minute from 0) cost."""
    minutes = len(usages)
    node_per_minute = prices.node_hour(node_type) / 60 if node_type is not None else 0.0
    fargate = [
        fargate_task_cost(prices, s, task_vcpu, task_memory_mib) for s in fargate_by_minute(bills, minutes)
    ]
    lcu_per_minute = [0.0] * minutes
    for hour_start in range(0, minutes, 60):
        hour = usages[hour_start : hour_start + 60]
        lcus = lcus_of_hour(hour)
        for m in range(hour_start, hour_start + len(hour)):
            lcu_per_minute[m] = lcus / 60  # LCU-hours
    running, cumulative = 0.0, []
    for m in range(minutes):
        running += (
            fargate[m] + prices.alb_hour / 60 + lcu_per_minute[m] * prices.alb_lcu_hour + node_per_minute
        )
        cumulative.append(running)
    lcu_hours = sum(lcu_per_minute)
    return Bill(
        fargate=sum(fargate),
        alb_hours=prices.alb_hour * minutes / 60,
        alb_lcu=lcu_hours * prices.alb_lcu_hour,
        elasticache=node_per_minute * minutes,
        lcu_hours=lcu_hours,
        by_minute=tuple(cumulative),
    )
