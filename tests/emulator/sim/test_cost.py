"""Dollars of a fixed timeline, computed by hand from the price table: Fargate, the ALB's hours, its LCUs, the node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.sim.cost import PRICES, PriceError, PriceTable, bill_of, fargate_by_minute, lcus_of_hour
from emulator.sim.fleet import MinuteUsage, TaskBill

PRICE = PriceTable.read("us-east-1")


def test_the_table_is_dated_names_its_sources_and_holds_the_published_figures() -> None:
    data = json.loads(PRICES.read_text())
    assert data["date"] and {"fargate", "alb", "elasticache"} <= data["sources"].keys()
    assert all(url.startswith("https://aws.amazon.com/") for url in data["sources"].values())
    assert (PRICE.fargate_vcpu_hour, PRICE.fargate_gb_hour) == (0.04048, 0.004445)
    assert (PRICE.alb_hour, PRICE.alb_lcu_hour) == (0.0225, 0.008)


def test_an_unknown_region_or_node_type_says_what_the_table_has() -> None:
    with pytest.raises(PriceError, match=r"no prices for region eu-west-3 .*us-east-1"):
        PriceTable.read("eu-west-3")
    with pytest.raises(PriceError, match=r"no ElastiCache price for cache\.r7g\.large .*cache\.t3\.micro"):
        PRICE.node_hour("cache.r7g.large")


def test_fargate_bills_each_task_per_second_with_a_one_minute_minimum() -> None:
    bills = [
        TaskBill("a", -600.0, None),  # running before the window: billed from 0 to the end, 90 minutes
        TaskBill("b", 600.0, 1500.0),  # 15 minutes
        TaskBill("c", 3000.0, 3030.0),  # 30 s: billed 60 s
    ]
    seconds = fargate_by_minute(bills, 90)
    assert sum(seconds) == pytest.approx(5400 + 900 + 60)
    assert seconds[50] == pytest.approx(60 + 60)  # task a, and c's 30 s plus its 30 s minimum top-up
    bill = bill_of(
        PRICE, bills, [MinuteUsage()] * 90, task_vcpu=1.0, task_memory_mib=2048, node_type="cache.t3.micro"
    )
    by_hand = (5400 + 900 + 60) / 3600 * (1 * 0.04048 + 2 * 0.004445)
    assert bill.fargate == pytest.approx(by_hand)
    assert bill.alb_hours == pytest.approx(1.5 * 0.0225)
    assert bill.elasticache == pytest.approx(1.5 * 0.017)
    assert bill.alb_lcu == 0.0
    assert bill.by_minute[-1] == pytest.approx(bill.total)


def test_alb_lcus_are_the_largest_dimension_of_each_hour() -> None:
    # Hour 0: 6 GB processed (6 LCU) beats 6000 active connections (2 LCU) and 15 new connections/s (0.6 LCU).
    busy = MinuteUsage(connection_seconds=6000 * 60, new_connections=900, processed_bytes=0.1e9)  # 6 GB/h
    # Hour 1 (30 minutes, a partial hour): new connections win: 3000/min = 50/s = 2 LCU; 300 active = 0.1 LCU.
    wave = MinuteUsage(connection_seconds=300 * 60, new_connections=3000, processed_bytes=0.001e9)
    usages = [busy] * 60 + [wave] * 30
    assert lcus_of_hour(usages[:60]) == pytest.approx(6.0)
    assert lcus_of_hour(usages[60:]) == pytest.approx(2.0)
    bill = bill_of(PRICE, [], usages, task_vcpu=1.0, task_memory_mib=2048, node_type="cache.t3.micro")
    assert bill.lcu_hours == pytest.approx(6.0 * 1 + 2.0 * 0.5)
    assert bill.alb_lcu == pytest.approx(7.0 * 0.008)
    assert bill.alb == pytest.approx(1.5 * 0.0225 + 7.0 * 0.008)


def test_a_price_table_elsewhere_is_read_the_same_way(tmp_path: Path) -> None:
    data = json.loads(PRICES.read_text())
    data["regions"]["eu-west-1"] = dict(data["regions"]["us-east-1"], alb_hour=0.0252)
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data))
    assert PriceTable.read("eu-west-1", path).alb_hour == 0.0252
    assert PriceTable.regions(path) == ["eu-west-1", "us-east-1"]
