"""Headless Chromium for the browser tests (Debian's package, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

#: Flags for a closed network: no background connections, no sandbox (root in CI), no GPU.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_or_skip() -> str:
    """Path of the chromium binary; skip the test without it (fail under CI=true)."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(
            "chromium is missing: CI must install Debian's chromium package (apt-get install chromium)."
        )
    pytest.skip("chromium is not installed")
