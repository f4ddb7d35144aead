"""Mainland mobile numbers: the one place that says what a number looks like.

- :func:`normalise_phone`: a number given on purpose (a CLI argument, a form field, a lookup):
  spaces, dashes, brackets and a ``+86``/``86`` prefix dropped, eleven digits starting with 1.
- :func:`find_phone`: the first mobile number in free text as a subscriber types it
  ("我的号码是 +86 138-0013-8000", full-width digits too), or None.
- :data:`PHONE_IN_TEXT` and :data:`MASKED_PHONE_IN_TEXT`: the patterns behind them, which the NLU
  also reads numbers by (``bot.nlu.values``, ``bot.nlu.linear``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Optional

#: A mobile number in text, with or without +86 and separators (group 1: the number).
PHONE_IN_TEXT = re.compile(r"(?<![\d])(?:\+?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?![\d])")
#: A mobile number as helpdesks print it, digits 4-7 hidden (138****8000): not a number, a shape.
MASKED_PHONE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d[\s-]?\*{4}[\s-]?\d{4}(?!\d)")

_ELEVEN = re.compile(r"^1\d{10}$")
_SEPARATORS = re.compile(r"[\s\-()]")


def normalise_phone(phone: str) -> Optional[str]:
    """The 11-digit mobile number in ``phone``, or ``None`` if it is not one.

    Spaces, dashes, brackets and a leading ``+86``/``86`` are ignored: ``'+86 138-0013-8000'``
    gives ``'13800138000'``.
    """
    digits = _SEPARATORS.sub("", str(phone or ""))
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if _ELEVEN.match(digits) else None


def find_phone(text: str) -> Optional[str]:
    """The first mobile number in free text, as eleven digits, or None."""
    match = PHONE_IN_TEXT.search(unicodedata.normalize("NFKC", text or ""))
    return re.sub(r"\D", "", match.group(1)) if match else None
