"""Turn config/defaults.py plus DIWAN_* environment variables into a Flask config."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from config import defaults

ENV_PREFIX = "DIWAN_"
_TRUE = {"1", "true", "yes", "on"}


def _coerce(raw: str, default: Any) -> Any:
    """Give an environment string the type of the default it overrides."""
    if isinstance(default, bool):
        return raw.strip().lower() in _TRUE
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> dict[str, Any]:
    """Defaults, then the environment, then explicit overrides (tests)."""
    environ = dict(os.environ) if environ is None else environ
    settings: dict[str, Any] = {}
    for name in dir(defaults):
        if not name.isupper():
            continue
        value = getattr(defaults, name)
        if ENV_PREFIX + name in environ:
            value = _coerce(environ[ENV_PREFIX + name], value)
        settings[name] = value
    settings["INSTANCE_PATH"] = environ.get(ENV_PREFIX + "INSTANCE_PATH", "")
    settings.update(overrides)
    return settings


def resolve_paths(settings: dict[str, Any], instance_path: Path) -> None:
    """Fill the empty storage settings with places inside the instance folder."""
    instance_path.mkdir(parents=True, exist_ok=True)
    if not settings["DATABASE_URL"]:
        settings["DATABASE_URL"] = f"sqlite:///{instance_path / 'diwan.sqlite3'}"
    for key, folder in (
        ("FILE_STORE", "files"),
        ("INDEX_DIR", "index"),
        ("PREVIEW_CACHE", "previews"),
    ):
        if not settings[key]:
            settings[key] = str(instance_path / folder)
    if not settings["SECRET_KEY"]:
        settings["SECRET_KEY"] = _instance_secret(instance_path / "secret_key")


def _instance_secret(path: Path) -> str:
    """Read the generated secret, creating it (mode 0600) on first run."""
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
