"""What the chat accepts as text, checked at the door before anything is stored or sent.

- A message is a string that is not blank, not longer than the limit, and encodable as UTF-8: a lone UTF-16
  surrogate (half an emoji, cut by a careless client) is refused here, since Redis and every other client could
  not take it.
- A username is all that, normalised to NFC, with no control or format characters (zero-width spaces, the BOM,
  bidirectional overrides, line separators, private-use or unassigned code points), and it must still show
  something once whitespace and combining marks are set aside.
"""

from __future__ import annotations

import unicodedata
from typing import Any

# Unicode general categories a name may not contain: controls, format characters (zero-width, BOM, bidi
# overrides), surrogates, private use, unassigned, and line / paragraph separators.
FORBIDDEN_IN_NAMES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
INVISIBLE = frozenset({"Zs", "Mn", "Mc", "Me"})  # spaces and combining marks: nothing to see on their own
# letters that render as blank space (Braille blank, Hangul fillers)
BLANK_LETTERS = frozenset("\u2800\u115f\u1160\u3164\uffa0")


def check_text(value: Any, what: str, limit: int) -> str | None:
    """Why `value` is not acceptable as `what`, or None when it is."""
    if not isinstance(value, str):
        return f"{what} must be a string"
    if not value.strip():
        return f"{what} must not be empty"
    if len(value) > limit:
        return f"{what} is longer than {limit} characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"{what} is not valid text (a lone UTF-16 surrogate at position {exc.start})"
    return None


def username(value: Any, limit: int) -> tuple[str, str | None]:
    """The normalised name and None, or ("", why it is refused)."""
    problem = check_text(value, "username", limit)
    if problem:
        return "", problem
    name = unicodedata.normalize("NFC", value).strip()
    for char in name:
        category = unicodedata.category(char)
        if category in FORBIDDEN_IN_NAMES:
            return (
                "",
                f"username must not contain U+{ord(char):04X} ({category}: an invisible or control character)",
            )
    if all(char in BLANK_LETTERS or unicodedata.category(char) in INVISIBLE for char in name):
        return "", "username must show at least one visible character"
    if len(name) > limit:
        return "", f"username is longer than {limit} characters"
    return name, None
