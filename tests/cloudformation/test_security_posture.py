"""The templates' security posture as a review reads it: header hygiene, described rules, scoped IAM, the
optional features off by default, and every suppressed scanner check carrying its reason.

AWS: "Application Load Balancer attributes" (routing.http.drop_invalid_header_fields.enabled), "Security
best practices in IAM" (grant least privilege), checkov's CloudFormation suppressions (Metadata: checkov: skip).
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator.aws.templates import default_templates_dir, load_template

TEMPLATES = {p.name: load_template(p) for p in sorted(default_templates_dir().glob("*.yml"))}


def _resources(kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (template, name, resource)
        for template, document in TEMPLATES.items()
        for name, resource in document["Resources"].items()
        if resource["Type"] == kind
    ]


def test_the_load_balancer_drops_invalid_header_fields() -> None:
    [(_, _, balancer)] = _resources("AWS::ElasticLoadBalancingV2::LoadBalancer")
    attributes = {a["Key"]: a["Value"] for a in balancer["Properties"]["LoadBalancerAttributes"]}

    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"


def test_every_security_group_rule_has_a_description() -> None:
    inline = [
        (name, rule)
        for _, name, group in _resources("AWS::EC2::SecurityGroup")
        for rule in group["Properties"].get("SecurityGroupIngress", [])
        + group["Properties"].get("SecurityGroupEgress", [])
    ]
    separate = [
        (name, rule["Properties"])
        for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
        for _, name, rule in _resources(kind)
    ]

    assert inline and separate
    assert [name for name, rule in inline + separate if not rule.get("Description")] == []


def test_no_role_may_act_on_every_resource() -> None:
    """Every IAM role statement names the resources it needs (the seed's roles allowed writes on "*")."""
    statements = [
        (name, statement)
        for _, name, role in _resources("AWS::IAM::Role")
        for policy in role["Properties"].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]

    assert statements
    assert [name for name, statement in statements if statement["Resource"] == "*"] == []


def test_ecs_uses_its_service_linked_role() -> None:
    """The article's custom ECS role only duplicated AWSServiceRoleForECS: it is gone."""
    roles = {name for _, name, _ in _resources("AWS::IAM::Role")}

    assert roles == {"ECSTaskExecutionRole", "AutoscalingRole"}


@pytest.mark.parametrize(
    ("template", "parameter", "default"),
    [
        ("cluster.yml", "CertificateArn", ""),
        ("cluster.yml", "ContainerInsights", "disabled"),
        ("cluster.yml", "LoadBalancerAccessLogs", "false"),
        ("chat-service.yml", "LogGroupKmsKey", "false"),
        ("cloudfront.yml", "CertificateArn", ""),
        ("cloudfront.yml", "AccessLogsBucketName", ""),
        ("cloudfront.yml", "WebAcl", "false"),
    ],
)
def test_what_costs_money_or_needs_a_domain_is_off_by_default(
    template: str, parameter: str, default: str
) -> None:
    assert TEMPLATES[template]["Parameters"][parameter]["Default"] == default


def test_the_https_listener_uses_tls_1_3_with_1_2_minimum() -> None:
    listeners = {name: r["Properties"] for _, name, r in _resources("AWS::ElasticLoadBalancingV2::Listener")}

    assert listeners["PublicLoadBalancerHttpsListener"]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners["PublicLoadBalancerHttpsListener"]["Protocol"] == "HTTPS"


def test_cloudfront_custom_domain_viewers_need_tls_1_2() -> None:
    [(_, _, distribution)] = _resources("AWS::CloudFront::Distribution")
    _, custom, default = distribution["Properties"]["DistributionConfig"][
        "ViewerCertificate"
    ]  # !If [condition, custom, default]

    assert custom["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert default == {"CloudFrontDefaultCertificate": True}


def test_every_suppressed_check_says_why() -> None:
    skips = [
        (name, skip)
        for document in TEMPLATES.values()
        for name, resource in document["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]

    assert skips
    assert [(name, s["id"]) for name, s in skips if len(s.get("comment", "")) < 20] == []
