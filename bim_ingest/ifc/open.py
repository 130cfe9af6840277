"""Open an IFC file, checking it before the native parser sees it.

The IfcOpenShell parser is fast and forgiving: it reads a truncated file
without complaint (it simply stops at the cut) and answers garbage with a
terse "Unable to parse IFC SPF header".  :func:`open_ifc` therefore looks at
the bytes first and turns every failure into one precise, typed error naming
the file:

* not an IFC (no ``ISO-10303-21;`` header, an ifcXML file, an empty file)
  -> :class:`~twin.errors.IngestError`;
* truncated (no ``END-ISO-10303-21;`` trailer) -> :class:`~twin.errors.IngestError`;
* a schema IfcOpenShell cannot read -> :class:`~twin.errors.SchemaError`
  listing the ones it can;
* no ``IfcBuilding`` -> :class:`~twin.errors.SchemaError`.

``.ifczip`` archives are unpacked into a temporary folder first, so that the
geometry worker process can open the same plain ``.ifc`` file.

Examples
--------
>>> from pathlib import Path
>>> import tempfile
>>> p = Path(tempfile.mkdtemp()) / "x.ifc"
>>> _ = p.write_text("hello")
>>> try:
...     check_spf(p)
... except Exception as err:
...     print(type(err).__name__)
IngestError
"""

from __future__ import annotations

import contextlib
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ifcopenshell

from twin.errors import IngestError, SchemaError

__all__ = ["SUPPORTED_SCHEMAS", "IfcSource", "check_spf", "open_ifc", "unpacked"]

#: Schemas that IfcOpenShell 0.9 reads (``file.schema_identifier``).
SUPPORTED_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3_ADD2")

_HEADER = b"ISO-10303-21;"
_TRAILER = b"END-ISO-10303-21;"
_SCHEMA_RE = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.IGNORECASE)


@dataclass
class IfcSource:
    """An opened IFC file and what was learnt while opening it.

    Attributes
    ----------
    path
        The file as given (``.ifc`` or ``.ifczip``).
    spf_path
        The plain STEP file parsed (the unpacked member for ``.ifczip``).
    file
        The parsed model.
    schema
        ``file.schema_identifier``, e.g. ``"IFC4X3_ADD2"``.
    header
        ``FILE_NAME`` fields: ``name``, ``time_stamp``, ``originating_system``,
        ``preprocessor_version``.
    """

    path: Path
    spf_path: Path
    file: ifcopenshell.file
    schema: str
    header: dict[str, str] = field(default_factory=dict)


def _read_head_tail(path: Path, n: int = 65536) -> tuple[bytes, bytes, int]:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(n)
        if size > n:
            fh.seek(max(0, size - 4096))
        tail = fh.read() if size > n else head[-4096:]
    return head, tail, size


def check_spf(path: Path) -> str:
    """Check that ``path`` is a complete IFC STEP file; return its declared schema.

    Parameters
    ----------
    path
        A plain ``.ifc`` (STEP physical file) path.

    Returns
    -------
    str
        The first name in ``FILE_SCHEMA``, e.g. ``"IFC4"`` (``""`` if absent).

    Raises
    ------
    IngestError
        When the file is empty, is no STEP file (or is ifcXML), or lacks the
        ``END-ISO-10303-21;`` trailer (truncated).
    """
    name = path.name
    head, tail, size = _read_head_tail(path)
    if size == 0:
        raise IngestError(f"{name}: the file is empty (0 bytes); export the IFC again.")
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith(_HEADER):
        if stripped.startswith(b"<"):
            raise IngestError(
                f"{name}: this is an XML file (ifcXML?); only IFC STEP files (.ifc, .ifczip) "
                "are read. Save the model as .ifc."
            )
        raise IngestError(
            f"{name}: not an IFC file: it does not start with 'ISO-10303-21;' "
            f"(first bytes {stripped[:20]!r}). Is this the right file?"
        )
    if _TRAILER not in tail:
        last = tail.rstrip()[-60:].decode("latin-1", errors="replace")
        raise IngestError(
            f"{name}: the file is truncated: it ends without 'END-ISO-10303-21;' "
            f"({size:,} bytes, last text ...{last!r}). It was cut while being written or "
            "copied; export or download it again."
        )
    found = _SCHEMA_RE.search(head)
    return found.group(1).decode("ascii", errors="replace").strip() if found else ""


@contextlib.contextmanager
def unpacked(path: Path) -> Iterator[Path]:
    """Yield a plain ``.ifc`` path for ``path``, unpacking an ``.ifczip`` to a temporary folder.

    Raises
    ------
    IngestError
        When the archive is not a zip file or holds no ``.ifc`` member.
    """
    if path.suffix.lower() != ".ifczip":
        yield path
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise IngestError(f"{path.name}: not a readable .ifczip archive ({err}).") from err
    with archive, tempfile.TemporaryDirectory(prefix="twin-ifczip-") as tmp:
        members = sorted(n for n in archive.namelist() if n.lower().endswith(".ifc"))
        if not members:
            raise IngestError(
                f"{path.name}: the .ifczip archive holds no .ifc file (members: {archive.namelist()[:5]})."
            )
        target = Path(tmp) / Path(members[0]).name
        with archive.open(members[0]) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        yield target


def open_ifc(path: Path, spf_path: Path | None = None) -> IfcSource:
    """Check and parse an IFC file.

    Parameters
    ----------
    path
        The file as the user gave it (used in messages).
    spf_path
        The plain STEP file to parse (see :func:`unpacked`); defaults to ``path``.

    Returns
    -------
    IfcSource

    Raises
    ------
    IngestError
        Not an IFC file, truncated, or the parser failed.
    SchemaError
        Unsupported schema, or no ``IfcBuilding`` in the file.
    """
    path = Path(path)
    spf = Path(spf_path) if spf_path is not None else path
    if not path.exists():
        raise IngestError(f"{path}: no such file.")
    declared = check_spf(spf)
    try:
        f = ifcopenshell.open(str(spf))
    except ifcopenshell.SchemaError as err:
        raise SchemaError(
            f"{path.name}: IFC schema {declared or '(none declared)'!r} is not supported: "
            f"IfcOpenShell {ifcopenshell.version} reads {', '.join(SUPPORTED_SCHEMAS)}. "
            "Export the model as IFC4 (or IFC2X3 / IFC4X3_ADD2)."
        ) from err
    except Exception as err:  # the native parser raises several types
        raise IngestError(f"{path.name}: the IFC parser failed: {err}.") from err
    schema = getattr(f, "schema_identifier", f.schema)
    if not f.by_type("IfcBuilding"):
        raise SchemaError(
            f"{path.name}: the file has no IfcBuilding (schema {schema}, "
            f"{len(f.by_type('IfcProduct'))} products), so there is no building to ingest. "
            "Export the model with its spatial structure (IfcSite > IfcBuilding > IfcBuildingStorey)."
        )
    return IfcSource(path=path, spf_path=spf, file=f, schema=schema, header=_header(f))


def _header(f: ifcopenshell.file) -> dict[str, str]:
    try:
        fn = f.header.file_name
        return {
            "name": str(fn.name or ""),
            "time_stamp": str(fn.time_stamp or ""),
            "originating_system": str(fn.originating_system or ""),
            "preprocessor_version": str(fn.preprocessor_version or ""),
        }
    except Exception:  # a malformed header is no reason to refuse the file
        return {}
