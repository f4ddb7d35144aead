"""What a secret looks like in a subscriber's text: the patterns the channel guard masks before Rasa
sees a message (bot/channels/guard.py) and the review queue masks again before a supervisor reads
one (bot/review/capture.py). Standard library only."""

from __future__ import annotations

import re

#: An 18-character resident ID number (17 digits and a digit or X), standing alone.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
#: Six characters standing alone: a one-time code, a service password, the last six of an ID number.
SIX_CHARS = re.compile(r"(?<![0-9A-Za-z])\d{5}[\dXx](?![0-9A-Za-z])")
