"""The twin's web service: FastAPI app factory, routers, durable jobs, API keys.

Entry-point layer: it may import every package of the project and nothing imports it except
``twin/cli*.py``.  Names are loaded lazily so that job child processes stay light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.service.app import create_app
    from twin.service.settings import Settings, load_settings

__all__ = ["create_app", "Settings", "load_settings"]

_HOME = {
    "create_app": "twin.service.app",
    "Settings": "twin.service.settings",
    "load_settings": "twin.service.settings",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'twin.service' has no attribute {name!r}")
