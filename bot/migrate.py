"""Runs Alembic migrations from code (``python -m bot db upgrade``, tests, ``make run``)."""

from __future__ import annotations

from typing import Optional

from alembic import command
from alembic.config import Config
from bot.settings import PROJECT_ROOT


def alembic_config(database_url: Optional[str] = None) -> Config:
    """An Alembic config for this project, optionally bound to ``database_url``."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: Optional[str] = None, revision: str = "head") -> None:
    """Migrates the store at ``database_url`` (settings' URL when not given) to ``revision``."""
    if database_url and database_url.startswith("sqlite:///"):
        from pathlib import Path

        Path(database_url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
