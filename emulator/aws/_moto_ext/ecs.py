"""AWS::ECS::TaskDefinition and AWS::ECS::Service, without the losses of moto's own models (reference §6a).

moto's models read only Family/ContainerDefinitions/Memory and ServiceName/Cluster/TaskDefinition/
DesiredCount; these keep what Fargate needs: task cpu, memory, awsvpc, FARGATE compatibility and roles;
the service's launch type, load balancers, network configuration, deployment configuration and health
check grace period. Ref: task definition ARN, service ARN; GetAtt Service.Name / ServiceArn.
A stack update that registers a new task definition revision updates the services that ran the old one
(moto skips resources whose template text did not change): a new deployment, as `ecs_deployments` starts it.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.core.utils import pascal_to_camelcase, remap_nested_keys
from moto.ecs.models import EC2ContainerServiceBackend, Service, TaskDefinition, ecs_backends

_INT_KEYS = {"containerPort", "hostPort", "cpu", "memory", "memoryReservation", "stopTimeout", "startTimeout"}


def backend(account_id: str, region_name: str) -> EC2ContainerServiceBackend:
    ecs: EC2ContainerServiceBackend = ecs_backends[account_id][region_name]
    return ecs


class CfnTaskDefinition(CloudFormationModel):
    """Returns moto's own TaskDefinition (Ref = its ARN); an update registers a new revision, as AWS does."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::TaskDefinition"

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == "TaskDefinitionArn"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> TaskDefinition:
        p = cloudformation_json["Properties"]
        task_definition: TaskDefinition = backend(account_id, region_name).register_task_definition(
            family=p.get("Family", resource_name),
            container_definitions=[_container(c) for c in p.get("ContainerDefinitions", [])],
            volumes=remap_nested_keys(p.get("Volumes", []), pascal_to_camelcase),
            network_mode=p.get("NetworkMode"),
            requires_compatibilities=p.get("RequiresCompatibilities"),
            cpu=_str_or_none(p.get("Cpu")),
            memory=_str_or_none(p.get("Memory")),
            task_role_arn=p.get("TaskRoleArn"),
            execution_role_arn=p.get("ExecutionRoleArn"),
            runtime_platform=remap_nested_keys(p["RuntimePlatform"], pascal_to_camelcase)
            if "RuntimePlatform" in p
            else None,
        )
        return task_definition

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: TaskDefinition,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> TaskDefinition:
        new = cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )
        ecs = backend(account_id, region_name)
        ecs.deregister_task_definition(original_resource.arn)
        # moto re-creates only the resources whose own template text or parameters changed; AWS also
        # updates those that Ref this one: a service running the old revision rolls to the new one.
        for service in list(ecs.services.values()):
            if service.task_definition == original_resource.arn and service.status == "ACTIVE":
                ecs.update_service(
                    {"cluster": service.cluster_name, "service": service.name, "task_definition": new.arn}
                )
        return new

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        backend(account_id, region_name).deregister_task_definition(resource_name)

    def is_created(self) -> bool:
        return True


def _container(definition: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = remap_nested_keys(definition, pascal_to_camelcase)
    for key in ("environment", "secrets"):
        # Fn::If with AWS::NoValue leaves None where AWS drops the entry.
        if container.get(key) is None:
            container.pop(key, None)
    if "environment" in container:
        container["environment"] = [
            {"name": e["name"], "value": str(e.get("value", ""))} for e in container["environment"] if e
        ]
    result: dict[str, Any] = _ints(container)
    return result


def _ints(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: int(v) if k in _INT_KEYS and v is not None else _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ints(v) for v in value]
    return value


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class CfnService(CloudFormationModel):
    """Returns moto's own Service (Ref = its ARN) with everything the template configured."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ECS::Service"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ServiceName"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Name", "ServiceArn")

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> Service:
        p = cloudformation_json["Properties"]
        service: Service = backend(account_id, region_name).create_service(
            _name(p["Cluster"]),
            resource_name,
            int(p.get("DesiredCount", 1)),
            task_definition_str=_task_definition_arn(p["TaskDefinition"]),
            load_balancers=_load_balancers(p.get("LoadBalancers", [])),
            launch_type=p.get("LaunchType"),
            platform_version=p.get("PlatformVersion"),
            network_configuration=remap_nested_keys(p["NetworkConfiguration"], pascal_to_camelcase)
            if "NetworkConfiguration" in p
            else None,
            propagate_tags=p.get("PropagateTags", "NONE"),
            role_arn=p.get("Role"),
        )
        _apply_deployment_settings(service, p)
        _patch_service_cfn(service)
        return service

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Service,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Service:
        p = cloudformation_json["Properties"]
        ecs = backend(account_id, region_name)
        if (
            _name(p["Cluster"]) != original_resource.cluster_name
            or new_resource_name != original_resource.name
        ):
            ecs.delete_service(original_resource.cluster_name, original_resource.name, force=True)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name
            )
        service: Service = ecs.update_service(
            {
                "cluster": original_resource.cluster_name,
                "service": original_resource.name,
                "task_definition": _task_definition_arn(p["TaskDefinition"]),
                "desired_count": int(p["DesiredCount"]) if "DesiredCount" in p else None,
            }
        )
        service.load_balancers = _load_balancers(p.get("LoadBalancers", []))
        if "NetworkConfiguration" in p:
            service.network_configuration = remap_nested_keys(p["NetworkConfiguration"], pascal_to_camelcase)
        _apply_deployment_settings(service, p)
        return service

    @classmethod
    def delete_from_cloudformation_json(
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        p = cloudformation_json["Properties"]
        backend(account_id, region_name).delete_service(_name(p["Cluster"]), resource_name, force=True)


def _patch_service_cfn(service: Service) -> None:
    """moto's Service answers GetAtt Name only; AWS also has ServiceArn."""
    original = service.get_cfn_attribute

    def get_cfn_attribute(attribute_name: str) -> Any:
        return service.arn if attribute_name == "ServiceArn" else original(attribute_name)

    service.get_cfn_attribute = get_cfn_attribute  # type: ignore[method-assign]


def _apply_deployment_settings(service: Service, p: dict[str, Any]) -> None:
    """moto's Service has no such attributes; its response serializer reads them when they are set."""
    config = p.get("DeploymentConfiguration", {})
    deployment: dict[str, Any] = {
        "maximumPercent": int(config.get("MaximumPercent", 200)),
        "minimumHealthyPercent": int(config.get("MinimumHealthyPercent", 100)),
    }
    if "DeploymentCircuitBreaker" in config:
        breaker = config["DeploymentCircuitBreaker"]
        deployment["deploymentCircuitBreaker"] = {
            "enable": str(breaker.get("Enable")).lower() == "true",
            "rollback": str(breaker.get("Rollback")).lower() == "true",
        }
    grace = p.get("HealthCheckGracePeriodSeconds")
    setattr(service, "deployment_configuration", deployment)  # noqa: B010
    setattr(service, "health_check_grace_period_seconds", None if grace is None else int(grace))  # noqa: B010


def _load_balancers(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    balancers: list[dict[str, Any]] = []
    for lb in remap_nested_keys(raw, pascal_to_camelcase):
        if "containerPort" in lb:
            lb["containerPort"] = int(lb["containerPort"])
        balancers.append(lb)
    return balancers


def _name(cluster: Any) -> str:
    return str(getattr(cluster, "name", cluster)).split("/")[-1]


def _task_definition_arn(task_definition: Any) -> str:
    return str(getattr(task_definition, "arn", task_definition))
