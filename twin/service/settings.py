"""Settings of the service: defaults, an optional TOML/JSON file, then ``TWIN_*`` environment variables.

Precedence (last wins): built-in defaults, the file named by ``TWIN_CONFIG`` (or passed
explicitly), environment variables ``TWIN_<FIELD>`` (upper case), explicit keyword overrides.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["Settings", "load_settings"]

_LIST_FIELDS = ("cors_origins",)


class Settings(BaseModel):
    """Configuration of one service instance (API process and its workers).

    Attributes
    ----------
    data_dir
        Root folder of uploads, models, results and the SQLite job store.
    database_url
        ``postgresql://...`` to use PostgreSQL; None for SQLite at ``<data_dir>/jobs.sqlite``.
    max_upload_mb
        Cap on any request body (MiB); larger uploads get 413.
    workers
        Worker processes started by ``twin serve`` (0: none, run ``twin worker`` separately).
    job_timeout_s
        Wall-clock limit of one job attempt; the job's process tree is killed after it.
    job_memory_mb
        Address-space limit (``RLIMIT_AS``) of the child process that runs a job.
    lease_s
        A running job's lease; workers renew it every ``lease_s / 3`` s.
    sweep_interval_s
        How often expired leases are looked for and their jobs re-queued.
    max_attempts
        Attempts before a job whose worker keeps dying is failed.
    poll_interval_s
        How long an idle worker waits before looking for work again.
    cors_origins
        Origins allowed by CORS (exact match); empty: no cross-origin access.
    test_job_kinds
        Enables the fault-injection job kinds (``test_sleep``, ``test_hang``, ``test_oom``,
        ``test_crash``); never in production.
    max_page_size
        Largest page of buildings one request may ask for.
    permit_snapshots
        Render snapshot images into permit reports (slower; needs an off-screen renderer).
    zip_max_members, zip_max_ratio
        IFCZIP caps: number of members and compression ratio of the IFC member.
    """

    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Field(default=Path("twin-data"), validate_default=True)
    database_url: str | None = None
    max_upload_mb: float = Field(default=200.0, gt=0)
    workers: int = Field(default=1, ge=0, le=64)
    job_timeout_s: float = Field(default=1800.0, gt=0)
    job_memory_mb: int = Field(default=4096, ge=64)
    lease_s: float = Field(default=30.0, gt=0)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    poll_interval_s: float = Field(default=0.5, gt=0)
    cors_origins: list[str] = Field(default_factory=list)
    test_job_kinds: bool = False
    max_page_size: int = Field(default=1000, ge=1)
    permit_snapshots: bool = True
    zip_max_members: int = Field(default=100, ge=1)
    zip_max_ratio: float = Field(default=200.0, gt=1)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return Path(value).expanduser().absolute()

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if any(o.strip() == "*" for o in value):
            raise ValueError("cors_origins must list exact origins; '*' is not accepted")
        return [o.strip().rstrip("/") for o in value if o.strip()]

    @property
    def max_upload_bytes(self) -> int:
        """The upload cap in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def sqlite_path(self) -> Path:
        """Location of the SQLite job store."""
        return self.data_dir / "jobs.sqlite"

    def prepare_dirs(self) -> None:
        """Create the folders the service writes into."""
        for sub in ("uploads", "models", "results", "work", "cache"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)


def _read_file(path: Path) -> dict[str, Any]:
    text = path.read_bytes()
    if path.suffix.lower() == ".json":
        data = json.loads(text)
    else:
        data = tomllib.loads(text.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the settings file must hold a table/object")
    return data.get("service", data)


def load_settings(
    path: str | os.PathLike | None = None,
    *,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build :class:`Settings` from a file, the environment and overrides.

    Parameters
    ----------
    path
        A TOML or JSON file (a ``[service]`` table or top-level keys); default ``$TWIN_CONFIG``.
    environ
        Environment to read ``TWIN_*`` variables from (default ``os.environ``).
    **overrides
        Values that win over everything else (None values are ignored).

    Raises
    ------
    pydantic.ValidationError
        A value is of the wrong type or out of range (the message names the field).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    file = path or env.get("TWIN_CONFIG")
    if file:
        values.update(_read_file(Path(file)))
    for name in Settings.model_fields:
        raw = env.get(f"TWIN_{name.upper()}")
        if raw is None:
            continue
        if name in _LIST_FIELDS:
            values[name] = [part for part in raw.split(",") if part.strip()]
        elif name in ("test_job_kinds", "permit_snapshots"):
            values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
        else:
            values[name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate(values)
