"""Natural sort: "1.10" after "1.9", "w10" after "w9". Standard library only; imports nothing of the suite."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[str | int, ...]:
    """A sort key for `text` comparing its runs of digits as numbers and the rest as text.

    The key alternates text and number ("1.10" -> ("", 1, ".", 10, "")), so a number is only ever compared
    with a number; text that begins with a digit sorts before text that begins with anything else.
    """
    return tuple(int(part) if n % 2 else part for n, part in enumerate(_DIGITS.split(text)))
