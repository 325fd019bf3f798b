"""The gateway as an ASGI application built from the environment, for process managers."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from starlette.applications import Starlette

__all__ = ["CONFIG_ENV", "app_from_environment", "configure_logging"]

CONFIG_ENV = "GOVSHARE_CONFIG"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("govshare")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # strawberry would log every failed request, identifiers included; the request line suffices
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)


def app_from_environment() -> Starlette:
    """An app for the configuration file named by GOVSHARE_CONFIG (`uvicorn --factory`)."""
    from gateway.app import create_app
    from gateway.runtime import Runtime
    from gateway.settings import ConfigError, Settings

    if not os.environ.get(CONFIG_ENV):
        raise ConfigError(f"{CONFIG_ENV} must name the gateway's configuration file")
    settings = Settings.from_file(Path(os.environ[CONFIG_ENV]), os.environ)
    if not settings.database_url:
        raise ConfigError(f"{os.environ[CONFIG_ENV]}: database_url (the control database) is required")
    configure_logging(settings.log_level)
    control = settings.database_url
    return create_app(lambda: Runtime.start(settings, control, settings.store_urls), settings.cors_origins)
