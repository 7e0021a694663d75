"""Template parameters checked as CloudFormation checks them, before anything is deployed.

Pure: `declarations()` reads a template's `Parameters` section, `value_problems()` says what is wrong with
one value, `unknown_names()` with names no template declares. `templates.stack_plan` runs them over the three
stacks and raises one `ParameterError` whose message is one line naming each parameter and the rule.

AWS rules followed (AWS CloudFormation User Guide, "Parameters template section syntax" and "Specify existing
resources at runtime with CloudFormation-supplied parameter types"):

- A value for a parameter the template does not declare is refused; so is a parameter with neither a value
  nor a `Default` ("must have values"). The `Default` itself must satisfy the parameter's constraints.
- `Type`: `String`; `Number` (an integer or a float); `List<Number>` (numbers separated by commas);
  `CommaDelimitedList` (strings separated by commas, each member space-trimmed); AWS-specific types
  (`AWS::EC2::VPC::Id`, `List<AWS::EC2::Subnet::Id>`, `AWS::SSM::Parameter::Value<String>` ...) are checked
  here as a String (a `List<AWS::...>` as a CommaDelimitedList): whether the resource exists is AWS's to say.
  Any other `Type` is a template format error.
- `AllowedValues`: the value must be one of them, each member of a list too. They are text in the API
  (DescribeStacks' `ParameterConstraints.AllowedValues`: an array of strings), so a Number is compared as
  written: `1024.0` is not `1024`.
- `AllowedPattern`: the whole String (each member of a CommaDelimitedList) must match; the
  `ConstraintDescription`, when given, is the explanation shown.
- `MinLength` / `MaxLength`: characters of a String. `MinValue` / `MaxValue`: a Number (each member of a
  List<Number>).
- `NoEcho: true`: the value is never shown, here as in DescribeStacks (`****`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

from emulator.aws.exceptions import TemplateError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BASIC_TYPES = {"String", "Number", "List<Number>", "CommaDelimitedList"}


class Kind(Enum):
    """How a parameter type's values are checked."""

    STRING = "String"
    NUMBER = "Number"
    NUMBER_LIST = "List<Number>"
    STRING_LIST = "CommaDelimitedList"


def kind_of(parameter_type: str) -> Kind | None:
    """The checks a `Type` gets; None for a type CloudFormation does not recognise."""
    if parameter_type in _BASIC_TYPES:
        return Kind(parameter_type)
    if parameter_type.startswith("AWS::SSM::Parameter::"):
        return Kind.STRING  # the value names a Systems Manager parameter
    if parameter_type.startswith("AWS::"):
        return Kind.STRING
    if parameter_type.startswith("List<AWS::") and parameter_type.endswith(">"):
        return Kind.STRING_LIST
    return None


@dataclass(frozen=True)
class ParameterDeclaration:
    """One entry of a template's `Parameters` section, values as the CloudFormation API carries them (text)."""

    name: str
    type: str
    default: str | None = None
    allowed_values: tuple[str, ...] = ()
    allowed_pattern: str | None = None
    constraint_description: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    no_echo: bool = False

    @property
    def kind(self) -> Kind:
        kind = kind_of(self.type)
        assert kind is not None  # declarations() refuses the rest
        return kind


def text(value: object) -> str:
    """A YAML scalar as the API carries it: booleans as `true` / `false`, the rest as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def declarations(
    section: Mapping[str, Any] | None, source: str = "template"
) -> dict[str, ParameterDeclaration]:
    """A template's `Parameters` section read into declarations; a malformed one is a `TemplateError`."""
    result: dict[str, ParameterDeclaration] = {}
    for name, body in (section or {}).items():
        if not isinstance(body, Mapping) or "Type" not in body:
            raise TemplateError(f"{source}: parameter {name} has no Type")
        declaration = ParameterDeclaration(
            name=str(name),
            type=text(body["Type"]),
            default=None if body.get("Default") is None else text(body["Default"]),
            allowed_values=tuple(text(v) for v in body.get("AllowedValues") or ()),
            allowed_pattern=None if body.get("AllowedPattern") is None else text(body["AllowedPattern"]),
            constraint_description=body.get("ConstraintDescription"),
            min_length=_integer(body, "MinLength", source, name),
            max_length=_integer(body, "MaxLength", source, name),
            min_value=_number(body, "MinValue", source, name),
            max_value=_number(body, "MaxValue", source, name),
            no_echo=text(body.get("NoEcho", False)).lower() == "true",
        )
        if kind_of(declaration.type) is None:
            raise TemplateError(f"{source}: parameter {name}: unrecognized parameter type {declaration.type}")
        if declaration.allowed_pattern is not None:
            try:
                re.compile(declaration.allowed_pattern)
            except re.error as exc:
                raise TemplateError(f"{source}: parameter {name}: bad AllowedPattern: {exc}") from exc
        result[declaration.name] = declaration
    return result


def _integer(body: Mapping[str, Any], key: str, source: str, name: str) -> int | None:
    if body.get(key) is None:
        return None
    try:
        return int(text(body[key]))
    except ValueError:
        raise TemplateError(f"{source}: parameter {name}: {key} {body[key]!r} is not an integer") from None


def _number(body: Mapping[str, Any], key: str, source: str, name: str) -> Decimal | None:
    if body.get(key) is None:
        return None
    raw = text(body[key])
    if not _NUMBER.fullmatch(raw):
        raise TemplateError(f"{source}: parameter {name}: {key} {raw!r} is not a number")
    return Decimal(raw)


def value_problems(declaration: ParameterDeclaration, value: str | None) -> list[str]:
    """What CloudFormation would refuse in `value` (None: no value given, so the Default), one line each."""
    if value is None:
        if declaration.default is None:
            return [f"{declaration.name}: no value and no Default (CloudFormation: must have values)"]
        return value_problems_of(declaration, declaration.default, " (the template's Default)")
    return value_problems_of(declaration, value, "")


def value_problems_of(declaration: ParameterDeclaration, value: str, origin: str) -> list[str]:
    shown = "****" if declaration.no_echo else _printable(value)
    label = f"{declaration.name}={shown}{origin}"
    kind = declaration.kind
    if kind in (Kind.STRING, Kind.NUMBER):
        return [f"{label}: {problem}" for problem in _scalar_problems(declaration, kind, value)]
    member_kind = Kind.NUMBER if kind is Kind.NUMBER_LIST else Kind.STRING
    for member in _members(value):
        found = _scalar_problems(declaration, member_kind, member, in_list=True)
        if found:
            member_shown = "****" if declaration.no_echo else _printable(member)
            return [f"{label}: member {member_shown} {found[0]}"]
    return []


def _scalar_problems(
    declaration: ParameterDeclaration, kind: Kind, value: str, in_list: bool = False
) -> list[str]:
    if kind is Kind.NUMBER:
        if not _NUMBER.fullmatch(value):
            return ["is not a Number" if in_list else "not a Number"]
        number = Decimal(value)
        if declaration.allowed_values and value not in declaration.allowed_values:
            return [f"not one of the AllowedValues {', '.join(declaration.allowed_values)}"]
        if declaration.min_value is not None and number < declaration.min_value:
            return [f"below the MinValue {_plain(declaration.min_value)}"]
        if declaration.max_value is not None and number > declaration.max_value:
            return [f"above the MaxValue {_plain(declaration.max_value)}"]
        return []
    if declaration.allowed_values and value not in declaration.allowed_values:
        return [f"not one of the AllowedValues {', '.join(declaration.allowed_values)}"]
    pattern = declaration.allowed_pattern
    if pattern is not None and not re.fullmatch(pattern, value):
        because = declaration.constraint_description
        return [f"does not match the AllowedPattern {pattern}" + (f" ({because})" if because else "")]
    if not in_list:
        length = len(value)
        if declaration.min_length is not None and length < declaration.min_length:
            return [f"{length} characters, shorter than the MinLength {declaration.min_length}"]
        if declaration.max_length is not None and length > declaration.max_length:
            return [f"{length} characters, longer than the MaxLength {declaration.max_length}"]
    return []


def _members(value: str) -> list[str]:
    """A list parameter's members: separated by commas, each space-trimmed; an empty value has none."""
    return [] if value.strip() == "" else [member.strip() for member in value.split(",")]


def _plain(number: Decimal) -> str:
    return str(int(number)) if number == number.to_integral_value() else str(number)


def _printable(value: str) -> str:
    """The value as typed, or quoted when it would not read as one line (empty, spaces at an end, control chars)."""
    if value == "" or value != value.strip() or not value.isprintable():
        return repr(value)
    return value


def unknown_names(given: Iterable[str], known: Iterable[str]) -> list[str]:
    """One line per given name that no template declares, with the closest declared name when one is close."""
    declared = sorted(set(known))
    lines = []
    for name in sorted(set(given) - set(declared)):
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        lines.append(f"{name}: no such parameter in the templates ({hint}known: {', '.join(declared)})")
    return lines
