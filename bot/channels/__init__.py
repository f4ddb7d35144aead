"""Rasa input channels. Loaded inside the Rasa server: nothing here touches the store at import time."""

from bot.rasa_patches import install as _install_rasa_patches

_install_rasa_patches()
