"""Rasa input channels. Loaded inside the Rasa server: nothing here touches the store at import time."""
