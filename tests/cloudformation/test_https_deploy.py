"""The cluster stack on moto, as `chat-emulator deploy` deploys it: the article's HTTP by default, HTTPS on 443
(ELBSecurityPolicy-TLS13-1-2-2021-06, port 80 a permanent redirect) with a `CertificateArn` from ACM.

AWS: "Create an HTTPS listener for your Application Load Balancer" and "Security policies for your
Application Load Balancer" (Elastic Load Balancing User Guide).
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from emulator.commands import deploy

REGION = "us-east-1"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def _self_signed(domain: str) -> tuple[bytes, bytes]:
    """A PEM certificate and its private key for `domain`, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def _client(service: str, endpoint_url: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION)  # type: ignore[call-overload]


def _deploy(endpoint_url: str, *params: str) -> int:
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)
    argv = ["--endpoint-url", endpoint_url, "--region", REGION, "--poll-seconds", "0.05"]
    for param in params:
        argv += ["--param", param]
    return deploy.run(parser.parse_args(argv))


def _outputs(endpoint_url: str, stack_name: str) -> dict[str, str]:
    [stack] = _client("cloudformation", endpoint_url).describe_stacks(StackName=stack_name)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _listeners_by_port(endpoint_url: str) -> dict[int, dict[str, Any]]:
    elbv2 = _client("elbv2", endpoint_url)
    [balancer] = elbv2.describe_load_balancers()["LoadBalancers"]
    listeners = elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    return {listener["Port"]: listener for listener in listeners}


def _service_rule_listener(endpoint_url: str, listeners: dict[int, dict[str, Any]]) -> int:
    """The port of the listener whose rules forward to the chat's target group."""
    elbv2 = _client("elbv2", endpoint_url)
    for port, listener in listeners.items():
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
            if any(action["Type"] == "forward" for action in rule["Actions"]):
                return port
    raise AssertionError("no listener forwards to the chat")


def _public_ingress_ports(endpoint_url: str) -> set[int]:
    groups = _client("ec2", endpoint_url).describe_security_groups()["SecurityGroups"]
    return {
        permission["FromPort"]
        for group in groups
        for permission in group["IpPermissions"]
        if any(r.get("CidrIp") == "0.0.0.0/0" for r in permission.get("IpRanges", []))
    }


def test_default_parameters_keep_the_articles_http_deployment(
    endpoint_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """No certificate: one HTTP listener on 80 carrying the chat's rule, no 443 open."""
    assert _deploy(endpoint_url) == 0
    listeners = _listeners_by_port(endpoint_url)
    outputs = _outputs(endpoint_url, "fargate-chat-cluster")

    assert {port: listener["Protocol"] for port, listener in listeners.items()} == {80: "HTTP"}
    assert _service_rule_listener(endpoint_url, listeners) == 80
    assert outputs["PublicListener"] == listeners[80]["ListenerArn"]
    assert outputs["ExternalUrl"].startswith("http://")
    assert _public_ingress_ports(endpoint_url) == {80}


def test_a_certificate_arn_serves_https_and_redirects_http(
    endpoint_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a certificate imported into ACM: HTTPS on 443 with the TLS 1.3/1.2 policy and the chat's rule;
    80 answers a permanent redirect to HTTPS; both ports open to the internet."""
    certificate, key = _self_signed("chat.example.com")
    arn = _client("acm", endpoint_url).import_certificate(Certificate=certificate, PrivateKey=key)[
        "CertificateArn"
    ]

    assert _deploy(endpoint_url, f"CertificateArn={arn}") == 0
    listeners = _listeners_by_port(endpoint_url)
    outputs = _outputs(endpoint_url, "fargate-chat-cluster")
    [redirect] = listeners[80]["DefaultActions"]

    assert {port: listener["Protocol"] for port, listener in listeners.items()} == {80: "HTTP", 443: "HTTPS"}
    assert listeners[443]["SslPolicy"] == TLS_POLICY
    assert [c["CertificateArn"] for c in listeners[443]["Certificates"]] == [arn]
    assert redirect["Type"] == "redirect"
    assert (redirect["RedirectConfig"]["Protocol"], redirect["RedirectConfig"]["Port"]) == ("HTTPS", "443")
    assert redirect["RedirectConfig"]["StatusCode"] == "HTTP_301"
    assert _service_rule_listener(endpoint_url, listeners) == 443
    assert outputs["PublicListener"] == listeners[443]["ListenerArn"]
    assert outputs["ExternalUrl"].startswith("https://")
    assert _public_ingress_ports(endpoint_url) == {80, 443}


def test_a_certificate_arn_that_is_not_an_acm_arn_is_refused_before_deploying(
    endpoint_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The template's AllowedPattern: a typo fails in one line, and no stack is created."""
    code = _deploy(endpoint_url, "CertificateArn=chat.example.com")
    stacks = _client("cloudformation", endpoint_url).describe_stacks()["Stacks"]

    assert code == 2
    assert "CertificateArn" in capsys.readouterr().err
    assert stacks == []
