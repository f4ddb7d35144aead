"""Messages with nothing to understand: blank, emoji or punctuation only, markup only, a key held down.

Such a message is not a misunderstanding (the subscriber did not ask anything the assistant failed
to grasp), so it never counts towards offering a person, and a blank one gets no answer at all.
"""

from __future__ import annotations

import re
import unicodedata

#: The intent the NLU pipeline gives such a message (``bot.nlu.components.NoiseDetector``).
NOISE_INTENT = "noise"

_TAG = re.compile(r"<[^<>]{0,200}>")
# A letter or a digit of any script (a CJK character counts as a letter).
_WORD_CHAR = re.compile(r"[^\W_]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def is_blank(text: str) -> bool:
    """Nothing but white space (of any width) and invisible characters."""
    return not "".join(ch for ch in text if unicodedata.category(ch) not in ("Cf", "Zs", "Zl", "Zp")).strip()


def is_noise(text: str) -> bool:
    """Whether ``text`` holds nothing to understand.

    Blank; only emoji, symbols or punctuation; only markup tags; or Latin letters where one or two
    letters make up the whole of at least four (``xxxxxxxx``, ``abababab``). Digits, Chinese and
    ordinary words are never noise: "1" may be a rating, "哈哈哈" small talk, "ok" a yes.
    """
    if is_blank(text):
        return True
    visible = _TAG.sub(" ", unicodedata.normalize("NFKC", text))
    chars = _WORD_CHAR.findall(visible)
    if not chars:
        return True
    if _CJK.search(visible) or any(ch.isdigit() for ch in chars):
        return False
    letters = [ch.lower() for ch in chars]
    return len(letters) >= 4 and len(set(letters)) <= 2
