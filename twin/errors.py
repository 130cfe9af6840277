"""The one exception and warning hierarchy of the twin.

Every error a user can meet derives from :class:`TwinError` and also from the
matching built-in, so generic handlers (``except ValueError``) keep working.
Messages say what was wrong, why it matters and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "TwinError",
    "CRSError",
    "CRSMismatchError",
    "GeometryError",
    "IngestError",
    "SchemaError",
    "StoreError",
    "DuplicateIdError",
    "ScenarioValidationError",
    "UnknownEntityError",
    "ConvergenceError",
    "TwinWarning",
    "TwinDeprecationWarning",
]


class TwinError(Exception):
    """Base of every error raised by the twin."""


class CRSError(TwinError, ValueError):
    """A coordinate reference system is missing, unknown or unusable."""


class CRSMismatchError(CRSError):
    """Two inputs carry different CRSs where one was required."""


class GeometryError(TwinError, ValueError):
    """A geometry is invalid beyond repair or of an unexpected type."""


class IngestError(TwinError):
    """A source file cannot be read (corrupt, truncated, unsupported)."""


class SchemaError(IngestError):
    """A source file is readable but does not follow its format's schema."""


class StoreError(TwinError, OSError):
    """A model store (GeoPackage, GeoParquet) cannot be written or is not a model."""


class DuplicateIdError(TwinError, ValueError):
    """Two entities share an id that must be unique."""


class ScenarioValidationError(TwinError, ValueError):
    """A scenario specification is invalid."""


class UnknownEntityError(TwinError, KeyError):
    """An id does not name any entity of the model."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ConvergenceError(TwinError, RuntimeError):
    """An iterative solver did not reach its tolerance."""


class TwinWarning(UserWarning):
    """Something was repaired, filled in or skipped; the data still loaded."""


class TwinDeprecationWarning(FutureWarning):
    """A name or argument is deprecated; the message names the replacement."""
