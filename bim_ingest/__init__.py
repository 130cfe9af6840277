"""Readers: BIM and 3D-city files into the city model.

``read(path)`` picks the reader by format; ``ingest(paths)`` reads several
files, merges them and finds party walls.
"""

from bim_ingest.registry import FORMATS, detect_format, ingest, read

__all__ = ["FORMATS", "detect_format", "ingest", "read"]
