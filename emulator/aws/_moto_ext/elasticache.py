"""ElastiCache types moto's CloudFormation skips (§6a); endpoints point at the emulator's Redis.

- AWS::ElastiCache::SubnetGroup: created in moto's ElastiCache backend (Ref = its name).
- AWS::ElastiCache::CacheCluster: GetAtt RedisEndpoint.Address / RedisEndpoint.Port (Ref = its id).
- AWS::ElastiCache::ReplicationGroup: GetAtt PrimaryEndPoint.Address / .Port (and ReadEndPoint.*).
moto's ElastiCache has no endpoints worth using (CacheNodes is None), so the two data stores are handles
whose addresses come from `endpoints.redis_endpoint` for the account and region.
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.elasticache.models import ElastiCacheBackend, elasticache_backends

from emulator.aws._moto_ext.base import EmulatorModel
from emulator.aws._moto_ext.endpoints import redis_endpoint


def backend(account_id: str, region_name: str) -> ElastiCacheBackend:
    cache: ElastiCacheBackend = elasticache_backends[account_id][region_name]
    return cache


class CfnCacheSubnetGroup(EmulatorModel, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::SubnetGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "CacheSubnetGroupName"

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> CfnCacheSubnetGroup:
        p = cloudformation_json["Properties"]
        name = resource_name.lower()
        backend(account_id, region_name).create_cache_subnet_group(
            cache_subnet_group_name=name,
            cache_subnet_group_description=p.get("Description", ""),
            subnet_ids=[str(s) for s in p.get("SubnetIds", [])],
            tags=[],
        )
        return cls(name, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: CfnCacheSubnetGroup,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> CfnCacheSubnetGroup:
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    def delete(self, account_id: str, region_name: str) -> None:
        backend(account_id, region_name).cache_subnet_groups.pop(self.physical_resource_id, None)


class _LocalRedis(EmulatorModel):
    """A Redis data store whose endpoint is the emulator's Redis."""

    ADDRESS_ATTRIBUTES: tuple[str, ...] = ()

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ADDRESS_ATTRIBUTES or any(
            attr == f"{a.rsplit('.', 1)[0]}.Port" for a in cls.ADDRESS_ATTRIBUTES
        )

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        host, port = redis_endpoint(self.account_id, self.region_name)
        if attribute_name in self.ADDRESS_ATTRIBUTES:
            return host
        if self.has_cfn_attr(attribute_name):
            return str(port)
        return super().get_cfn_attribute(attribute_name)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **_: Any,
    ) -> _LocalRedis:
        engine = str(cloudformation_json["Properties"].get("Engine", "redis"))
        if engine not in ("redis", "valkey"):
            from emulator.aws._moto_ext.base import validation_error

            raise validation_error(f"{resource_name}: the emulator provides only Redis, not {engine}")
        return cls(resource_name.lower(), account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: _LocalRedis,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> _LocalRedis:
        return original_resource


class CfnCacheCluster(_LocalRedis, CloudFormationModel):
    ADDRESS_ATTRIBUTES = ("RedisEndpoint.Address",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::CacheCluster"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ClusterName"


class CfnReplicationGroup(_LocalRedis, CloudFormationModel):
    ADDRESS_ATTRIBUTES = ("PrimaryEndPoint.Address", "ReadEndPoint.Address", "ConfigurationEndPoint.Address")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::ReplicationGroup"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ReplicationGroupId"
