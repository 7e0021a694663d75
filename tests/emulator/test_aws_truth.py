"""Issue 10's acceptance, as a user scripts it: boto3 against a running `chat-emulator up --isolation process`.

Only the AWS API (`EmulatedAccount.client`, the endpoint `up` prints) and what the machine shows of the workers
(their PIDs, `/healthz`, `/metrics`, Engine.IO handshake and OS environment) are used: what ECS, ELBv2,
CloudWatch and Application Auto Scaling answer must be what the workers really do.

AWS rules checked (shared/reference/aws-scaling-semantics.md): counts and task lifecycle (§4.2, §4.3), rolling
deployments within minimumHealthyPercent (rounded up) and maximumPercent (rounded down) with the circuit breaker
(§4.5), no scale-in during a deployment (§2.11), RegisterScalableTarget clamping the capacity (§2.7),
SetAlarmState temporary and acted on once (§1.12), deregistration delay before SIGTERM (§4.4, §4.9). The
template's numbers: 2 tasks, min 2 / max 10, high-cpu >= 70 (+1), low-cpu <= 20 (-1), cooldown 60 s, health
checks every 6 s, deregistration delay 30 s, grace period 10 s.

Emulated time runs 20x faster (an emulated minute, one alarm evaluation, is 3 s), 10x for the draining test.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from emulator.supervisor import Emulator
from support.chat_client import ChatClient
from support.emulated import (
    NOT_YET_RUNNING,
    Aws,
    Worker,
    alive,
    emulated,
    environment,
    eventually,
    handshake,
    healthz,
    maximum_tasks,
    minimum_healthy,
    open_connections,
    task_id,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.slow, pytest.mark.redis]

SCALE = 20.0
MINUTE = 60 / SCALE  # one emulated minute (one alarm evaluation), in wall seconds
SCALE_IN_REASON = re.compile(r"^Scaling activity initiated by \(deployment ecs-svc/\d+\)$")


# -- what the API says, at one moment, and how it must match the workers ---------------------------------
@dataclass(frozen=True)
class Sample:
    """describe-services, list-tasks + describe-tasks (RUNNING and STOPPED), describe-target-health."""

    at: float
    service: dict[str, Any]
    tasks: list[dict[str, Any]]
    targets: list[dict[str, Any]]

    @property
    def desired(self) -> int:
        return int(self.service["desiredCount"])

    @property
    def deployments(self) -> list[dict[str, Any]]:
        return list(self.service["deployments"])

    @property
    def primary(self) -> dict[str, Any]:
        (primary,) = [d for d in self.deployments if d["status"] == "PRIMARY"]
        return primary

    def completed(self) -> bool:
        return len(self.deployments) == 1 and self.primary.get("rolloutState") == "COMPLETED"

    def healthy_targets(self) -> set[str]:
        return {t["Target"]["Id"] for t in self.targets if t["TargetHealth"]["State"] == "healthy"}

    def running(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"]

    def running_or_pending(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if t["lastStatus"] in ("RUNNING", *NOT_YET_RUNNING)]

    def brief(self) -> str:
        deployments = [
            (d["id"][-6:], d["status"], d.get("rolloutState"), d["runningCount"]) for d in self.deployments
        ]
        tasks = sorted((task_id(t)[:6], t["lastStatus"], t["desiredStatus"]) for t in self.tasks)
        targets = sorted((t["Target"]["Id"][:6], t["TargetHealth"]["State"]) for t in self.targets)
        return (
            f"desired={self.desired} running={self.service['runningCount']} pending={self.service['pendingCount']} "
            f"deployments={deployments} tasks={tasks} targets={targets}"
        )


async def sample(aws: Aws, target_group_arn: str) -> Sample:
    # tasks before targets: a target healthy in the second answer was RUNNING in the first
    at = time.monotonic()
    service = await aws.service()
    # a task that stopped between the two list-tasks calls is in both answers: the later one is the truth
    tasks = {task_id(t): t for t in await aws.tasks("RUNNING") + await aws.tasks("STOPPED")}
    return Sample(at, service, list(tasks.values()), await aws.targets(target_group_arn))


async def truth(aws: Aws, target_group_arn: str, count: int, timeout: float = 30.0) -> dict[str, Worker]:
    """Once the service is steady at `count`: its RUNNING tasks are the healthy targets and the live workers,
    `runningCount` counts them, each worker answers /healthz and runs its task's revision. Returns the workers."""

    async def agrees() -> tuple[Sample, dict[str, Worker]] | None:
        now = await sample(aws, target_group_arn)
        running = {task_id(t) for t in now.running()}
        live = await aws.workers()
        # a worker still draining or stopping is not RUNNING and not a healthy target: leave it out
        stopping = {
            task_id(t) for t in now.tasks if t["desiredStatus"] == "STOPPED" and t["lastStatus"] != "STOPPED"
        }
        serving = {k: w for k, w in live.items() if k not in stopping}
        ok = (
            now.desired == count
            and now.service["runningCount"] == count
            and now.service["pendingCount"] == 0
            and now.completed()
            and len(running) == count
            and running == now.healthy_targets()
            and running == set(serving)
            # the container health check reports apart from the target group's: a new task is UNKNOWN until it runs
            and all(task["healthStatus"] == "HEALTHY" for task in now.running())
        )
        return (now, serving) if ok else None

    try:
        found: tuple[Sample, dict[str, Worker]] = await eventually(
            f"service steady at {count}", agrees, timeout
        )
    except AssertionError:
        now = await sample(aws, target_group_arn)
        live = sorted(k[:6] for k in await aws.workers())
        raise AssertionError(
            f"never steady at {count} as the workers are: {now.brief()}; workers {live}"
        ) from None
    now, serving = found
    assert now.primary["runningCount"] == count and now.primary["desiredCount"] == count
    for task in now.running():
        worker = serving[task_id(task)]
        assert alive(worker.pid)
        assert await healthz(worker) == (200, "ok")
        assert task["healthStatus"] == "HEALTHY"
        assert task["taskDefinitionArn"] == now.primary["taskDefinition"] == now.service["taskDefinition"]
        assert isinstance(task["startedAt"], datetime)
        revision = await aws.task_definition(task["taskDefinitionArn"])
        for name, value in environment(revision["containerDefinitions"][0]).items():
            # where it listens and which Redis it reaches are the emulator's own (emulator.cluster.environment)
            if not name.startswith("REDIS_") and name != "PORT":
                assert worker.environ.get(name) == value, (name, worker.environ.get(name), value)
    by_id = {t["Target"]["Id"]: t for t in now.targets}
    for worker in serving.values():
        assert by_id[worker.task_id]["Target"]["Port"] == worker.port
    return serving


AWS_STATE_REASON = re.compile(
    r"^Threshold Crossed: \d+ (out of the last \d+ )?datapoints? \[[\d.]+ \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\)"
    r"(, [\d.]+ \(\d\d/\d\d/\d\d \d\d:\d\d:\d\d\))*\] (was|were) (not )?(greater|less) than( or equal to)? "
    r"the threshold \([\d.]+\)"
)


# -- one idle emulator for the read-only checks -----------------------------------------------------------
@dataclass(frozen=True)
class Idle:
    emulator: Emulator
    aws: Aws
    target_group_arn: str


@pytest_asyncio.fixture(scope="class", loop_scope="module")
async def idle(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Idle]:
    """Two idle workers, autoscaling on, after the first alarm evaluation (low-cpu in ALARM, high-cpu OK)."""
    async with emulated(tmp_path_factory.mktemp("idle")) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        await truth(aws, tg, 2)

        async def evaluated() -> bool:
            high, low = await aws.alarm("-high-cpu"), await aws.alarm("-low-cpu")
            return bool(high["StateValue"] == "OK" and low["StateValue"] == "ALARM")

        await eventually("both alarms evaluated on idle workers", evaluated, 4 * MINUTE)
        yield Idle(emulator, aws, tg)


class TestOneIdleEmulator:
    """Read-only checks, sharing one emulator (stopped before the tests that change a deployment start)."""

    async def test_every_call_answers_what_the_workers_do(self, idle: Idle) -> None:
        """describe-services, list-tasks, describe-tasks, describe-target-health, describe-scaling-activities,
        describe-alarm-history and describe-alarms answer (no HTTP 500), and say what the two workers are."""
        aws = idle.aws
        served = await truth(aws, idle.target_group_arn, 2)
        assert len(served) == 2
        service = await aws.service()
        assert (service["desiredCount"], service["runningCount"], service["pendingCount"]) == (2, 2, 0)
        (primary,) = service["deployments"]
        assert primary["status"] == "PRIMARY" and primary["rolloutState"] == "COMPLETED"
        assert (primary["desiredCount"], primary["runningCount"], primary["pendingCount"]) == (2, 2, 0)
        messages = [e["message"] for e in service["events"]]
        name = aws.service_name
        assert messages[0] == f"(service {name}) has reached a steady state.", messages[:3]
        started = [m for m in messages if m.startswith(f"(service {name}) has started 2 tasks:")]
        assert started and all(f"(task {t})" in started[-1] for t in served), messages
        assert all(
            e["createdAt"] >= f["createdAt"]
            for e, f in zip(service["events"], service["events"][1:], strict=False)
        )

        tasks = await aws.tasks()
        assert {task_id(t) for t in tasks} == set(served)
        for task in tasks:
            assert task["lastStatus"] == task["desiredStatus"] == "RUNNING"
            assert task["startedBy"] == primary["id"] and task["group"] == f"service:{name}"
            assert task["launchType"] == "FARGATE" and task["healthStatus"] == "HEALTHY"
            assert task["createdAt"] <= task["startedAt"]  # emulated time: ahead of the wall clock
            assert "stoppedReason" not in task
        assert await aws.task_arns("STOPPED") == []
        missing = await aws.call(aws.ecs.describe_tasks, cluster=aws.cluster, tasks=["0" * 32])
        assert missing["tasks"] == [] and missing["failures"][0]["reason"] == "MISSING"

        targets = await aws.targets(idle.target_group_arn)
        assert {t["Target"]["Id"] for t in targets} == set(served)
        assert all(t["TargetHealth"] == {"State": "healthy"} for t in targets), targets

        # idle workers: low-cpu is in ALARM, but min capacity 2 leaves nothing to scale in
        assert await aws.scaling_activities() == []
        for suffix, state, threshold in (("-high-cpu", "OK", 70.0), ("-low-cpu", "ALARM", 20.0)):
            alarm = await aws.alarm(suffix)
            assert alarm["StateValue"] == state
            assert alarm["StateReason"].startswith("Threshold Crossed"), alarm["StateReason"]
            data = json.loads(alarm["StateReasonData"])
            assert data["version"] == "1.0" and data["statistic"] == "Average" and data["period"] == 60
            assert data["threshold"] == threshold
            assert data["recentDatapoints"] and all(0 <= v < 20 for v in data["recentDatapoints"]), data
            history = await aws.alarm_history(alarm["AlarmName"])
            assert history[0]["HistorySummary"] == f"Alarm updated from INSUFFICIENT_DATA to {state}", history
            assert history[0]["HistoryItemType"] == "StateUpdate"
            change = json.loads(history[0]["HistoryData"])
            assert change["oldState"]["stateValue"] == "INSUFFICIENT_DATA"
            assert change["newState"]["stateValue"] == state
            assert change["newState"]["stateReason"] == alarm["StateReason"]

    async def test_alarm_state_reason_is_worded_as_aws_words_it(self, idle: Idle) -> None:
        """describe-alarms' StateReason and StateReasonData in CloudWatch's format (a user's alerting parses them)."""
        for suffix in ("-high-cpu", "-low-cpu"):
            alarm = await idle.aws.alarm(suffix)
            assert AWS_STATE_REASON.match(alarm["StateReason"]), alarm["StateReason"]
            data = json.loads(alarm["StateReasonData"])
            assert {
                "version",
                "queryDate",
                "startDate",
                "statistic",
                "period",
                "recentDatapoints",
                "threshold",
            } <= set(data), data
            assert data["evaluatedDatapoints"], data
            for point in data["evaluatedDatapoints"]:
                assert isinstance(point, dict) and {"timestamp", "sampleCount", "value"} <= set(point), data


# -- desired count by hand ------------------------------------------------------------------------------
async def test_update_service_scales_out_and_in_and_services_stable_returns(tmp_path: Path) -> None:
    """update-service --desired-count 4, then 2, with autoscaling on (scale-in suspended, so idle CPU does not
    undo it): the response reports the current runningCount, `wait services-stable` returns, and each time the
    RUNNING tasks are the healthy targets and the live workers; the two scaled-in tasks are STOPPED in ECS's
    words and their processes are gone."""
    async with emulated(tmp_path) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        await aws.register_scalable_target(SuspendedState={"DynamicScalingInSuspended": True})
        await truth(aws, tg, 2)

        answer = await aws.update_service(desiredCount=4)
        assert answer["desiredCount"] == 4
        assert answer["runningCount"] == 2, "AWS reports the tasks running now, not the new desired count"
        await aws.wait_services_stable()
        four = await truth(aws, tg, 4)

        answer = await aws.update_service(desiredCount=2)
        assert (answer["desiredCount"], answer["runningCount"]) == (2, 4)
        await aws.wait_services_stable()
        two = await truth(aws, tg, 2)
        gone = set(four) - set(two)
        assert len(gone) == 2

        async def stopped() -> list[dict[str, Any]] | None:
            done = [
                t for t in await aws.tasks("STOPPED") if task_id(t) in gone and t["lastStatus"] == "STOPPED"
            ]
            return done if len(done) == 2 else None

        for task in await eventually("the two scaled-in tasks STOPPED", stopped):
            assert SCALE_IN_REASON.match(task["stoppedReason"]), task["stoppedReason"]
            assert task["desiredStatus"] == "STOPPED" and task["stopCode"] == "ServiceSchedulerInitiated"
            assert task["stoppedAt"] >= task["stoppingAt"] >= task["startedAt"]
            assert not alive(four[task_id(task)].pid)
        assert await aws.scaling_activities() == []  # the user scaled, not Application Auto Scaling


# -- rolling deployments -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rollout:
    samples: list[Sample]
    before: dict[str, Worker]
    after: dict[str, Worker]


async def roll(
    aws: Aws, tg: str, until: Callable[[Sample], bool], timeout: float = 60.0, every: float = 0.1
) -> list[Sample]:
    """Sample every `every` s until `until`; at no sample fewer healthy targets than minimumHealthyPercent
    allows (rounded up) or more RUNNING + PENDING tasks than maximumPercent allows (rounded down)."""
    samples: list[Sample] = []
    deadline = time.monotonic() + timeout
    while True:
        now = await sample(aws, tg)
        samples.append(now)
        config = now.service["deploymentConfiguration"]
        floor = minimum_healthy(now.desired, config["minimumHealthyPercent"])
        ceiling = maximum_tasks(now.desired, config["maximumPercent"])
        healthy = now.healthy_targets()
        assert len(healthy) >= floor, f"{len(healthy)} healthy < {floor}: {now.brief()}"
        assert healthy <= {task_id(t) for t in now.running()}, (
            f"a healthy target is no RUNNING task: {now.brief()}"
        )
        assert len(now.running_or_pending()) <= ceiling, f"more than {ceiling} tasks: {now.brief()}"
        assert now.service["runningCount"] + now.service["pendingCount"] <= ceiling, now.brief()
        if until(now):
            return samples
        assert time.monotonic() < deadline, f"not done within {timeout}s: {now.brief()}"
        await asyncio.sleep(every)


def completed_other_than(deployment_id: str) -> Callable[[Sample], bool]:
    return lambda s: s.completed() and s.primary["id"] != deployment_id


async def assert_rolled(aws: Aws, rollout: Rollout, old_deployment: str) -> dict[str, Any]:
    """The new PRIMARY COMPLETED, the old deployment gone, none of the old workers alive, the tasks all new."""
    service = await aws.service()
    primary: dict[str, Any]
    (primary,) = service["deployments"]
    assert primary["id"] != old_deployment and primary["rolloutState"] == "COMPLETED"
    assert primary["rolloutStateReason"] == f"ECS deployment {primary['id']} completed."
    assert not set(rollout.before) & set(rollout.after)
    assert not any(alive(w.pid) for w in rollout.before.values())
    assert all(t["startedBy"] == primary["id"] for t in await aws.tasks())
    messages = [e["message"] for e in service["events"]]
    assert f"(service {aws.service_name}) (deployment {primary['id']}) deployment completed." in messages
    # it rolled: new tasks started while the old ones still served (maximumPercent above 100)
    assert max(len(s.running_or_pending()) for s in rollout.samples) > service["desiredCount"]
    return primary


async def test_force_new_deployment_rolls_within_the_limits(tmp_path: Path) -> None:
    """update-service --force-new-deployment on 3 tasks (template: 75 % / 200 %): never fewer than 3 healthy
    targets or more than 6 tasks; every task replaced; rolloutState COMPLETED; the old deployment gone."""
    async with emulated(tmp_path, workers=3, autoscaling=False) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        before = await truth(aws, tg, 3)
        old = (await aws.service())["deployments"][0]["id"]

        answer = await aws.update_service(forceNewDeployment=True)
        assert answer["runningCount"] == 3
        statuses = sorted((d["status"], d.get("rolloutState")) for d in answer["deployments"])
        assert statuses == [("ACTIVE", "COMPLETED"), ("PRIMARY", "IN_PROGRESS")], answer["deployments"]
        samples = await roll(aws, tg, completed_other_than(old))
        after = await truth(aws, tg, 3)
        await assert_rolled(aws, Rollout(samples, before, after), old)


async def test_new_task_definition_revision_rolls_and_runs_its_environment(tmp_path: Path) -> None:
    """register-task-definition (PING_INTERVAL 4 -> 5, a new variable), then update-service --task-definition
    with 50 % / 150 % on 4 tasks: never fewer than 2 healthy or more than 6 tasks; every new worker runs the new
    revision's environment (its OS environment and its handshake's pingInterval)."""
    async with emulated(tmp_path, workers=4, autoscaling=False) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        before = await truth(aws, tg, 4)
        service = await aws.service()
        old, old_arn = service["deployments"][0]["id"], service["taskDefinition"]
        assert {w.environ["PING_INTERVAL"] for w in before.values()} == {"4"}
        new_arn = await aws.register_revision(old_arn, PING_INTERVAL="5", ROLLOUT_MARK="revision-2")
        assert new_arn != old_arn

        answer = await aws.update_service(
            taskDefinition=new_arn,
            deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50},
        )
        assert answer["runningCount"] == 4 and answer["taskDefinition"] == new_arn
        samples = await roll(aws, tg, completed_other_than(old))
        after = await truth(aws, tg, 4)
        primary = await assert_rolled(aws, Rollout(samples, before, after), old)
        assert primary["taskDefinition"] == new_arn
        for task in await aws.tasks():
            assert task["taskDefinitionArn"] == new_arn
        for worker in after.values():
            assert worker.environ["PING_INTERVAL"] == "5" and worker.environ["ROLLOUT_MARK"] == "revision-2"
            assert (await handshake(worker))["pingInterval"] == 5000
        # the rolling plan had to go in steps: at some moment old and new tasks served side by side
        assert any({t["taskDefinitionArn"] for t in s.running()} == {old_arn, new_arn} for s in samples), (
            "never old and new RUNNING together"
        )


async def test_a_revision_that_never_starts_trips_the_circuit_breaker_and_rolls_back(tmp_path: Path) -> None:
    """A revision whose worker refuses to start (LOG_LEVEL=BOGUS: chat exits with a configuration error), with
    the circuit breaker and rollback on (200 % / 100 %): its deployment turns FAILED, a new PRIMARY of the
    previous revision COMPLETES with healthy tasks, and the two old tasks kept serving throughout."""
    async with emulated(tmp_path, autoscaling=False) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        await truth(aws, tg, 2)
        service = await aws.service()
        good_arn, first = service["taskDefinition"], service["deployments"][0]["id"]
        bad_arn = await aws.register_revision(good_arn, LOG_LEVEL="BOGUS")
        await aws.update_service(
            deploymentConfiguration={
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            }
        )
        answer = await aws.update_service(taskDefinition=bad_arn)
        (bad,) = [d for d in answer["deployments"] if d["status"] == "PRIMARY"]
        assert bad["taskDefinition"] == bad_arn

        await roll(
            aws,
            tg,
            lambda s: any(d["id"] == bad["id"] and d.get("rolloutState") == "FAILED" for d in s.deployments),
            timeout=40,
        )
        (failed,) = [d for d in (await aws.service())["deployments"] if d["id"] == bad["id"]]
        assert failed["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
        assert failed["failedTasks"] >= 3  # ECS API reference: 0.5 x desired count, at least 3, at most 200
        # with rollback, ECS starts a deployment of the last completed revision at once
        samples = await roll(aws, tg, lambda s: s.primary["id"] not in (bad["id"], first), timeout=10)
        assert samples[-1].primary["taskDefinition"] == good_arn
        await roll(aws, tg, lambda s: s.completed() and s.primary["id"] != bad["id"], timeout=40)

        after = await truth(aws, tg, 2)
        service = await aws.service()
        (primary,) = service["deployments"]
        assert primary["id"] not in (bad["id"], first)  # a new deployment of the previous revision
        assert primary["taskDefinition"] == service["taskDefinition"] == good_arn
        assert all(w.environ.get("LOG_LEVEL") != "BOGUS" for w in after.values())
        messages = [e["message"] for e in service["events"]]
        name = aws.service_name
        assert (
            f"(service {name}) (deployment {bad['id']}) deployment failed: tasks failed to start." in messages
        )
        assert any(m.startswith(f"(service {name}) rolling back to deployment ") for m in messages), messages


async def test_tasks_of_a_revision_that_never_starts_stop_as_failed_to_start(tmp_path: Path) -> None:
    """Circuit breaker off: a revision whose worker exits at start-up keeps its deployment IN_PROGRESS, its
    tasks STOPPED with stopCode TaskFailedToStart, and the old tasks serving (75 % of 2 = 2 must stay)."""
    async with emulated(tmp_path, autoscaling=False) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        before = await truth(aws, tg, 2)
        bad_arn = await aws.register_revision((await aws.service())["taskDefinition"], LOG_LEVEL="BOGUS")
        await aws.update_service(taskDefinition=bad_arn)

        def failed_starts(now: Sample) -> list[dict[str, Any]]:
            return [
                t for t in now.tasks if t["taskDefinitionArn"] == bad_arn and t["lastStatus"] == "STOPPED"
            ]

        samples = await roll(aws, tg, lambda now: len(failed_starts(now)) >= 2, timeout=30)
        assert samples[-1].primary["rolloutState"] == "IN_PROGRESS"
        assert set(before) <= {task_id(t) for t in samples[-1].running()}
        for task in failed_starts(samples[-1]):
            assert task["stoppedReason"].startswith("Task failed to start"), task["stoppedReason"]
            assert task["stopCode"] == "TaskFailedToStart", (task["stoppedReason"], task["stopCode"])


# -- autoscaling and deployments --------------------------------------------------------------------------
def policy_activities(activities: Iterable[Mapping[str, Any]], alarm_name: str) -> list[Mapping[str, Any]]:
    return [a for a in activities if f"monitor alarm {alarm_name} in state ALARM" in a["Cause"]]


def alarm_reason_data(value: float, threshold: float) -> str:
    """StateReasonData as CloudWatch writes it, for a policy run by SetAlarmState (reference §1.12)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return json.dumps(
        {
            "version": "1.0",
            "queryDate": now,
            "startDate": now,
            "statistic": "Average",
            "period": 60,
            "recentDatapoints": [value],
            "threshold": threshold,
            "evaluatedDatapoints": [{"timestamp": now, "sampleCount": 3.0, "value": value}],
        }
    )


async def set_alarm_state(aws: Aws, alarm_name: str, value: float, threshold: float) -> None:
    await aws.call(
        aws.cloudwatch.set_alarm_state,
        AlarmName=alarm_name,
        StateValue="ALARM",
        StateReason="testing the scaling policy",
        StateReasonData=alarm_reason_data(value, threshold),
    )


async def test_no_scale_in_during_a_deployment_but_scale_out(tmp_path: Path) -> None:
    """3 idle tasks (min 2), a deployment held IN_PROGRESS by a revision that never starts (no circuit breaker):
    the low-cpu alarm stays in ALARM for 4 emulated minutes and the service stays at 3; set-alarm-state ALARM
    on high-cpu scales out to 4. Once a good revision completes, the same alarm scales in."""
    async with emulated(tmp_path, workers=3) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        await aws.register_scalable_target(SuspendedState={"DynamicScalingInSuspended": True})
        await aws.update_service(desiredCount=3)  # in case an evaluation scaled in before the suspension
        await truth(aws, tg, 3)
        service = await aws.service()
        good_arn = service["taskDefinition"]
        bad_arn = await aws.register_revision(good_arn, LOG_LEVEL="BOGUS")
        await aws.update_service(taskDefinition=bad_arn)
        await aws.register_scalable_target(
            SuspendedState={"DynamicScalingInSuspended": False, "DynamicScalingOutSuspended": False}
        )

        low = (await aws.alarm("-low-cpu"))["AlarmName"]
        seen_alarm = 0
        deadline = time.monotonic() + 4 * MINUTE
        while time.monotonic() < deadline:
            now = await aws.service()
            assert now["desiredCount"] == 3, "scaled in during a deployment"
            assert now["deployments"][0]["taskDefinition"] == bad_arn
            assert now["deployments"][0]["rolloutState"] == "IN_PROGRESS"
            seen_alarm += (await aws.alarm("-low-cpu"))["StateValue"] == "ALARM"
            await asyncio.sleep(0.25)
        assert seen_alarm, "the low-cpu alarm never was in ALARM: nothing asked for a scale-in"
        assert policy_activities(await aws.scaling_activities(), low) == []

        high = await aws.alarm("-high-cpu")
        await set_alarm_state(aws, high["AlarmName"], 80.0, high["Threshold"])

        async def scaled_out() -> bool:
            return bool((await aws.service())["desiredCount"] == 4)

        await eventually("scale-out to 4 during the deployment", scaled_out, 2 * MINUTE)
        (activity,) = policy_activities(await aws.scaling_activities(), high["AlarmName"])
        assert (
            activity["Description"] == "Setting desired count to 4."
            and activity["StatusCode"] == "Successful"
        )

        # the control: once a deployment of the good revision completes, the idle service scales in
        await aws.update_service(taskDefinition=good_arn)

        async def scaled_in() -> bool:
            return bool((await aws.service())["desiredCount"] < 4)

        await eventually("scale-in once no deployment is in progress", scaled_in, 60)
        assert policy_activities(await aws.scaling_activities(), low)


async def test_register_scalable_target_min_capacity_3_holds_against_the_low_alarm(tmp_path: Path) -> None:
    """register-scalable-target --min-capacity 3 while low-cpu is in ALARM (idle workers): the capacity is
    clamped to 3 at once and stays there for 4 emulated minutes, three healthy workers serving."""
    async with emulated(tmp_path) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        await truth(aws, tg, 2)

        async def low_in_alarm() -> bool:
            return bool((await aws.alarm("-low-cpu"))["StateValue"] == "ALARM")

        await eventually("low-cpu in ALARM", low_in_alarm, 4 * MINUTE)
        await aws.register_scalable_target(MinCapacity=3)
        (target,) = (
            await aws.call(
                aws.autoscaling.describe_scalable_targets,
                ServiceNamespace="ecs",
                ResourceIds=[aws.resource_id],
            )
        )["ScalableTargets"]
        assert (target["MinCapacity"], target["MaxCapacity"]) == (3, 10)  # MaxCapacity left out: unchanged

        await aws.wait_services_stable()
        await truth(aws, tg, 3)
        deadline = time.monotonic() + 4 * MINUTE
        while time.monotonic() < deadline:
            assert (await aws.service())["desiredCount"] == 3
            await asyncio.sleep(0.25)
        assert await low_in_alarm()
        await truth(aws, tg, 3)


async def test_set_alarm_state_runs_the_policy_once_and_the_alarm_returns(tmp_path: Path) -> None:
    """set-alarm-state ALARM on high-cpu (idle workers, really OK): one scaling activity (2 -> 3), and the next
    evaluation returns the alarm to OK; describe-alarm-history shows both updates, newest first."""
    async with emulated(tmp_path) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        await truth(aws, tg, 2)

        async def high_ok() -> bool:
            return bool((await aws.alarm("-high-cpu"))["StateValue"] == "OK")

        await eventually("high-cpu evaluated OK", high_ok, 4 * MINUTE)
        high = await aws.alarm("-high-cpu")
        name = high["AlarmName"]
        await set_alarm_state(aws, name, 80.0, high["Threshold"])
        now = await aws.alarm("-high-cpu")
        assert now["StateValue"] == "ALARM" and now["StateReason"] == "testing the scaling policy"

        async def back_to_ok() -> bool:
            return bool((await aws.alarm("-high-cpu"))["StateValue"] == "OK")

        await eventually("high-cpu back to its real state", back_to_ok, 2 * MINUTE)
        await asyncio.sleep(3 * MINUTE)  # more evaluations: none may run the policy again
        (activity,) = policy_activities(await aws.scaling_activities(), name)
        assert activity["Description"] == "Setting desired count to 3."
        assert activity["Cause"].endswith(f"triggered policy {name.removesuffix('-high-cpu')}-scale-up")
        assert activity["StatusCode"] == "Successful"

        history = await aws.alarm_history(name)
        summaries = [h["HistorySummary"] for h in history]
        assert summaries[:2] == ["Alarm updated from ALARM to OK", "Alarm updated from OK to ALARM"], (
            summaries
        )
        assert (
            json.loads(history[1]["HistoryData"])["newState"]["stateReason"] == "testing the scaling policy"
        )
        assert history[0]["Timestamp"] >= history[1]["Timestamp"]


# -- draining before SIGTERM ------------------------------------------------------------------------------
DRAIN_SCALE = 10.0
DEREGISTRATION_DELAY = 30.0 / DRAIN_SCALE  # the template's 30 s, in wall seconds


async def watch_stop(aws: Aws, tg: str, workers_by_id: Mapping[str, Worker]) -> tuple[str, float, list[str]]:
    """After a scale-in by one: (the stopped task's id, wall seconds from the update to STOPPED, what its
    target said while the task was DEACTIVATING). The worker must be alive as long as the task is DEACTIVATING."""
    started = time.monotonic()
    states: list[str] = []
    while True:
        stopping = [t for t in await aws.tasks("STOPPED") if task_id(t) in workers_by_id]
        if stopping:
            (task,) = stopping
            tid = task_id(task)
            if task["lastStatus"] == "STOPPED":
                assert SCALE_IN_REASON.match(task["stoppedReason"]), task["stoppedReason"]
                return tid, time.monotonic() - started, states
            if task["lastStatus"] == "DEACTIVATING":
                assert alive(workers_by_id[tid].pid), "SIGTERM while the task was still draining"
                by_id = {t["Target"]["Id"]: t["TargetHealth"] for t in await aws.targets(tg)}
                health = by_id.get(tid, {"State": "gone"})
                # kept only if the task still says DEACTIVATING after the targets were read: the drain may end
                # between the two reads (a CI run read the target gone, the task a moment before it stopped)
                again = [t for t in await aws.tasks("STOPPED") if task_id(t) == tid]
                if again and again[0]["lastStatus"] == "DEACTIVATING":
                    states.append(f"{health['State']}:{health.get('Reason', '')}")
        assert time.monotonic() - started < 30, "the scaled-in task never stopped"
        await asyncio.sleep(0.05)


async def test_a_scaled_in_task_drains_its_clients_before_sigterm(tmp_path: Path) -> None:
    """With a WebSocket client through the load balancer on each task, a scale-in from 2 to 1 keeps the chosen
    task DEACTIVATING (its target draining, its worker alive) for the deregistration delay, then stops it; with
    no client a scaled-in task stops at once. Both STOPPED with ECS's stoppedReason."""
    async with emulated(tmp_path, autoscaling=False, time_scale=DRAIN_SCALE) as emulator:
        aws = Aws(emulator)
        tg = await aws.target_group_arn()
        serving = await truth(aws, tg, 2)
        clients = [ChatClient(f"user{i}") for i in range(2)]
        try:
            for client in clients:
                await client.connect(emulator.load_balancer.url, transports=["websocket"])
                await client.login()

            async def one_each() -> bool:
                return all([await open_connections(w) == 1 for w in serving.values()])

            await eventually("one client on each worker", one_each, 10)
            await aws.update_service(desiredCount=1)
            stopped, took, states = await watch_stop(aws, tg, serving)
            assert took >= DEREGISTRATION_DELAY * 0.9, f"stopped after {took:.2f}s, before the delay ended"
            assert took < DEREGISTRATION_DELAY + 3, f"stopped after {took:.2f}s"
            draining = "draining:Target.DeregistrationInProgress"
            odd = [
                (i, s) for i, s in enumerate(states) if s != draining
            ]  # named in the failure: which, and when
            assert states and not odd, f"{len(states)} reads while DEACTIVATING; not draining: {odd}"
            assert not alive(serving[stopped].pid)
            assert (
                sum(not c.sio.connected for c in clients) == 1
            )  # the drained task's client was cut off at the end
        finally:
            for client in clients:
                await client.close()

        await aws.update_service(desiredCount=2)
        await aws.wait_services_stable()
        serving = await truth(aws, tg, 2)
        assert all([await open_connections(w) == 0 for w in serving.values()])
        await aws.update_service(desiredCount=1)
        stopped, took, _ = await watch_stop(aws, tg, serving)
        assert took < DEREGISTRATION_DELAY / 2, f"a task with no connection took {took:.2f}s to stop"
        assert not alive(serving[stopped].pid)
        await truth(aws, tg, 1)
