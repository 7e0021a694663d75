"""Shared plumbing of the custom models: moto's abstract hooks with sensible defaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class EmulatorModel:
    """A CloudFormation resource whose state lives in a moto backend; this object is its handle.

    Mix it in before `CloudFormationModel`: moto only finds *direct* subclasses of `CloudFormationModel`.
    """

    def __init__(self, physical_id: str, account_id: str, region_name: str) -> None:
        self._physical_id = physical_id
        self.account_id = account_id
        self.region_name = region_name

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    def is_created(self) -> bool:
        return True


def validation_error(message: str) -> Exception:
    """A CloudFormation ValidationError: a 400 with `message`, a `ClientError` for boto3."""
    from moto.cloudformation.exceptions import ValidationError

    error: Exception = ValidationError(message=message)
    return error


def kept_on(backend: Any, attribute: str, make: Callable[[], T]) -> T:
    """State the emulator keeps on a moto backend object (so that a moto reset drops it with the backend): the
    value of `attribute`, created with `make()` the first time."""
    value: T | None = getattr(backend, attribute, None)
    if value is None:
        value = make()
        setattr(backend, attribute, value)
    return value
