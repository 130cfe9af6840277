"""Type aliases shared across the project."""

from __future__ import annotations

from os import PathLike
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from pyproj import CRS

__all__ = ["CRSLike", "PathLike_", "Points3D", "Offsets", "SeedLike"]

#: Anything :func:`twin.crs.to_crs` accepts.
CRSLike: TypeAlias = CRS | str | int
#: A filesystem path.
PathLike_: TypeAlias = str | PathLike[str]
#: (n, 3) float64 coordinates in metres.
Points3D: TypeAlias = npt.NDArray[np.float64]
#: (k + 1,) int64 offsets into a flat array (CSR style).
Offsets: TypeAlias = npt.NDArray[np.int64]
#: A seed or generator for deterministic randomness.
SeedLike: TypeAlias = int | np.random.Generator | None
