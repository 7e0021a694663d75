"""What the chat accepts as text: messages and usernames (chat/text.py)."""

from __future__ import annotations

import pytest

from chat import text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("hello", None),
        ("a\nb\tc", None),  # a message may hold newlines and tabs
        ("😀", None),
        (42, "message must be a string"),
        ("   ", "message must not be empty"),
        ("x" * 11, "message is longer than 10 characters"),
        ("\udfff", "message is not valid text (a lone UTF-16 surrogate at position 0)"),
        ("ok \ud83d", "message is not valid text (a lone UTF-16 surrogate at position 3)"),
    ],
)
def test_messages(value: object, problem: str | None) -> None:
    assert text.check_text(value, "message", 10) == problem


@pytest.mark.parametrize(
    "raw",
    [
        "zero\u200bwidth",  # zero-width space
        "\ufeffbom",  # byte order mark
        "evil\u202etxt.exe",  # right-to-left override
        "bell\x07",  # control character
        "two\u2028lines",  # line separator
        "private\ue000",  # private use
    ],
)
def test_names_with_invisible_or_control_characters_are_refused(raw: str) -> None:
    name, problem = text.username(raw, 32)
    assert name == "" and problem is not None and "must not contain" in problem


@pytest.mark.parametrize("raw", ["\u0301\u0301", "\u3000 \u0308"])
def test_names_that_show_nothing_are_refused(raw: str) -> None:
    assert text.username(raw, 32) == ("", "username must show at least one visible character")


def test_names_are_nfc_normalised_and_trimmed() -> None:
    decomposed = "  Zoe\u0301 "  # e + combining acute accent
    assert text.username(decomposed, 32) == ("Zoé", None)
    assert text.username("Zoé", 32) == ("Zoé", None)


def test_names_keep_the_checks_messages_have() -> None:
    assert (
        text.username("\udfff", 32)[1] == "username is not valid text (a lone UTF-16 surrogate at position 0)"
    )
    assert text.username("", 32)[1] == "username must not be empty"
    assert text.username("x" * 33, 32)[1] == "username is longer than 32 characters"
