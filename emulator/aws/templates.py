"""The deployment's templates, in order, and which parameters go to which stack.

`stack_plan()` is inert: it reads the three templates from a folder (by default the repository's
`cloudformation/`), names the stacks `<prefix>-cluster`, `<prefix>-resources`, `<prefix>-service`, wires
the cross-stack parameters (`ClusterStackName`, `ResourcesStackName`) and routes each user parameter to
every stack that declares it. Before any plan is returned, every value is checked the way CloudFormation
checks it (`emulator.aws.parameters`: unknown names, Type, AllowedValues, AllowedPattern, MinValue /
MaxValue, MinLength / MaxLength), so a bad `--param` fails `up`, `simulate` and `deploy` alike with one
`ParameterError` line, before anything is deployed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emulator.aws.exceptions import ParameterError, TemplateError
from emulator.aws.parameters import ParameterDeclaration, declarations, text, unknown_names, value_problems

DEFAULT_STACK_PREFIX = "fargate-chat"

# (stack suffix, template file): the order of deployment.
STACKS: tuple[tuple[str, str], ...] = (
    ("cluster", "cluster.yml"),
    ("resources", "resources.yml"),
    ("service", "chat-service.yml"),
)
# Template parameters that name another stack of the same deployment.
CROSS_STACK_PARAMETERS = {"ClusterStackName": "cluster", "ResourcesStackName": "resources"}


def default_templates_dir() -> Path:
    """The repository's `cloudformation/` folder, found relative to this package."""
    return Path(__file__).resolve().parents[2] / "cloudformation"


@dataclass(frozen=True)
class StackPlan:
    """One stack to create or update: its name, template text and parameter values."""

    role: str  # "cluster" | "resources" | "service"
    stack_name: str
    template_path: Path
    template_body: str
    parameters: Mapping[str, str] = field(default_factory=dict)

    def api_parameters(self) -> list[dict[str, str]]:
        return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(self.parameters.items())]


class _CfnLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML: short-form intrinsics (`!Ref`, `!Sub`...) load as plain values."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


def stack_plan(
    templates_dir: Path | str | None = None,
    params: Mapping[str, object] | None = None,
    stack_prefix: str = DEFAULT_STACK_PREFIX,
) -> list[StackPlan]:
    """The three stacks in deployment order, each with the parameters it declares.

    Every stack's parameter values (given, cross-stack or Default) are checked as CloudFormation checks
    them (`emulator.aws.parameters`) before anything is deployed: one `ParameterError` lists them all."""
    folder = Path(templates_dir) if templates_dir is not None else default_templates_dir()
    overrides = {k: text(v) for k, v in (params or {}).items()}
    names = {role: f"{stack_prefix}-{role}" for role, _ in STACKS}
    plans: list[StackPlan] = []
    declared_by_stack: list[dict[str, ParameterDeclaration]] = []
    for role, filename in STACKS:
        path = folder / filename
        declared = declarations(load_template(path).get("Parameters"), str(path))
        values = {k: names[r] for k, r in CROSS_STACK_PARAMETERS.items() if k in declared}
        values.update({k: v for k, v in overrides.items() if k in declared})
        declared_by_stack.append(declared)
        plans.append(StackPlan(role, names[role], path, path.read_text(encoding="utf-8"), values))
    problems = unknown_names(overrides, (name for declared in declared_by_stack for name in declared))
    for plan, declared in zip(plans, declared_by_stack, strict=True):
        for name, declaration in declared.items():
            problems += [
                p for p in value_problems(declaration, plan.parameters.get(name)) if p not in problems
            ]
    if problems:
        raise ParameterError(problems)
    return plans


def parse_param_assignments(assignments: list[str]) -> dict[str, str]:
    """`["Key=Value", ...]` (the CLI's repeatable --param) -> a dict, spaces around key and value trimmed;
    a malformed item is a `ParameterError`. Only the first `=` separates: values may hold more."""
    result: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError([f"--param expects Key=Value, got {item!r}"])
        result[key.strip()] = value.strip()
    return result


def deployed_parameter(
    name: str, templates_dir: Path | str | None = None, params: Mapping[str, object] | None = None
) -> str | None:
    """The value the first stack that declares `name` is deployed with: the user's, else its Default."""
    for plan in stack_plan(templates_dir, params):
        declared = declarations(load_template(plan.template_path).get("Parameters"), str(plan.template_path))
        if name in declared:
            return plan.parameters.get(name, declared[name].default)
    return None
