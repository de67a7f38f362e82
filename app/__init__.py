"""Diwan: a digital mail room with e-signature. ``create_app`` is the application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from app.services import webhook_addresses
from app.settings import load_settings, resolve_paths

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    settings = load_settings(**(overrides or {}))
    instance_path = Path(settings["INSTANCE_PATH"] or PROJECT_ROOT / "instance").resolve()
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=False)
    resolve_paths(settings, instance_path)
    app.config.update(settings)
    _flask_settings(app)

    from app import web

    web.init_app(app)
    return app


def _flask_settings(app: Flask) -> None:
    """Map Diwan's settings onto the names Flask and its extensions read."""
    config = app.config
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True}
    max_files = config["MAX_FILES_PER_LETTER"]
    # Werkzeug refuses a larger body before reading it; each file is also checked on its own.
    config["MAX_CONTENT_LENGTH"] = (config["MAX_UPLOAD_MB"] * max_files + 1) * 1024 * 1024
    config["MAX_FORM_PARTS"] = 200
    # Secure cookies unless the installation is reached over plain http (a trial, `make run`).
    secure = str(config["SESSION_COOKIE_SECURE"]).strip().lower()
    if secure in ("", "auto"):
        config["SESSION_COOKIE_SECURE"] = config["BASE_URL"].lower().startswith("https://")
    else:
        config["SESSION_COOKIE_SECURE"] = secure in ("1", "true", "yes", "on")
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["REMEMBER_COOKIE_SECURE"] = config["SESSION_COOKIE_SECURE"]
    config["REMEMBER_COOKIE_HTTPONLY"] = True
    config["REMEMBER_COOKIE_SAMESITE"] = "Lax"
    # Session cookies end with the browser; the server ends a session sooner (services/sign_in.py).
    config["PERMANENT_SESSION_LIFETIME"] = config["SESSION_MAX_HOURS"] * 3600
    # A shared rate-limit store (Redis) that stops answering: each process counts for itself
    # with the same limits until it is back, rather than the limited pages failing.
    config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    webhook_addresses.parse_networks(config["WEBHOOK_ALLOWED_NETWORKS"])  # a bad one stops here
    config["BABEL_DEFAULT_LOCALE"] = config["DEFAULT_LOCALE"]
    config["BABEL_DEFAULT_TIMEZONE"] = "UTC"
    config["WTF_CSRF_TIME_LIMIT"] = None  # tied to the session instead of a clock
