"""Receiving untrusted files: streaming to disk under a cap, magic-byte sniffing, IFCZIP unpacking.

Nothing the client says reaches the filesystem: files are stored under a server-generated
UUID; the client's file name is only kept, escaped and shortened, as metadata.  The format is
decided from the first bytes, not from the name.  An IFCZIP is unpacked here, with caps on
member count, declared size, streamed size and compression ratio -- never by IfcOpenShell,
whose own extraction has no size limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import unicodedata
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "UploadRejected",
    "StoredUpload",
    "store_stream",
    "sniff",
    "unpack_ifczip",
    "clean_name",
    "sweep_partial_uploads",
]

#: Suffix of files being received; swept at start-up (an API killed mid-upload).
PARTIAL = ".part"

#: Received bytes are hashed and written in blocks of this size, off the event loop.
_FLUSH_BYTES = 1 << 20


class UploadRejected(Exception):
    """An upload that is refused; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class StoredUpload:
    """A received file: its server path, sha256 and size."""

    path: Path
    sha256: str
    size: int


async def store_stream(chunks: AsyncIterator[bytes], folder: Path, max_bytes: int) -> StoredUpload:
    """Write a request body to ``folder/<uuid>.part`` while hashing and counting it.

    Raises
    ------
    UploadRejected
        413 when the body grows past ``max_bytes``, 422 when it is empty.  The partial file is
        removed in every failure.
    """
    from anyio import to_thread

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{PARTIAL}"
    digest = hashlib.sha256()
    size = 0
    pending = bytearray()

    def flush(fh: Any, block: bytes) -> None:  # in a worker thread: the event loop keeps serving
        digest.update(block)
        fh.write(block)

    try:
        with open(path, "xb") as fh:
            async for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > max_bytes:
                    raise UploadRejected(413, f"upload larger than the limit of {max_bytes} bytes")
                pending += chunk
                if len(pending) >= _FLUSH_BYTES:
                    block, pending = bytes(pending), bytearray()
                    await to_thread.run_sync(flush, fh, block)
            if pending:
                await to_thread.run_sync(flush, fh, bytes(pending))
            fh.flush()
            await to_thread.run_sync(os.fsync, fh.fileno())
        if size == 0:
            raise UploadRejected(422, "the upload is empty")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return StoredUpload(path=path, sha256=digest.hexdigest(), size=size)


_XML_ENTITY = re.compile(rb"<!ENTITY", re.IGNORECASE)


def sniff(path: Path) -> str:
    """The format of a received file from its first bytes.

    Returns
    -------
    str
        ``"ifc"``, ``"ifczip"``, ``"cityjson"``, ``"citygml"`` or ``"gpkg"``.

    Raises
    ------
    UploadRejected
        415 for a type we do not read (PDF, executables, images, unknown), 422 for XML with
        entity declarations (XXE / billion laughs are refused before any parser runs).
    """
    with open(path, "rb") as fh:
        head = fh.read(65536)
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body.startswith(b"ISO-10303-21"):
        return "ifc"
    if head.startswith(b"PK\x03\x04"):
        return "ifczip"
    if head.startswith(b"SQLite format 3\x00"):
        if len(head) >= 72 and head[68:72] in (b"GPKG", b"GP10", b"GP11"):
            return "gpkg"
        raise UploadRejected(415, "an SQLite file that is not a GeoPackage")
    if body.startswith(b"{"):
        if b'"CityJSON"' in head:
            return "cityjson"
        raise UploadRejected(415, 'a JSON file that is not CityJSON (no "type": "CityJSON")')
    if body.startswith(b"<"):
        if _XML_ENTITY.search(head) or b"<!DOCTYPE" in head.upper():
            raise UploadRejected(422, "XML with a DOCTYPE or entity declarations is not accepted")
        if b"CityModel" in head:
            return "citygml"
        raise UploadRejected(415, "an XML file that is not CityGML (no CityModel root)")
    known = {
        b"%PDF": "a PDF document",
        b"\x7fELF": "an executable (ELF)",
        b"MZ": "a Windows executable",
        b"\x89PNG": "a PNG image",
        b"\xff\xd8\xff": "a JPEG image",
        b"\x1f\x8b": "a gzip archive",
    }
    for magic, what in known.items():
        if head.startswith(magic):
            raise UploadRejected(415, f"unsupported file type: {what}")
    raise UploadRejected(
        415, "unsupported file type; send IFC (STEP), IFCZIP, CityJSON, CityGML or a GeoPackage"
    )


def unpack_ifczip(
    path: Path,
    dest: Path,
    *,
    max_bytes: int,
    max_members: int = 100,
    max_ratio: float = 200.0,
) -> Path:
    """Extract the one ``.ifc`` member of an IFCZIP to ``dest`` with caps.

    Raises
    ------
    UploadRejected
        422 "archive rejected: ..." for too many members, encrypted members, unsafe names,
        no or several IFC members, a nested archive, a declared or real size over ``max_bytes``
        or a compression ratio over ``max_ratio``.  ``dest`` is removed on failure.
    """

    def reject(why: str) -> UploadRejected:
        return UploadRejected(422, f"archive rejected: {why}")

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise reject(f"not a readable zip file ({err})") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            raise reject(f"{len(infos)} members (at most {max_members})")
        candidates = []
        for info in infos:
            name = info.filename
            if info.flag_bits & 0x1:
                raise reject("encrypted members are not accepted")
            parts = name.replace("\\", "/").split("/")
            if name.startswith(("/", "\\")) or ".." in parts or ":" in name or "\x00" in name:
                raise reject("a member name is an absolute path or leaves the archive")
            lower = name.lower()
            if lower.endswith((".zip", ".ifczip")):
                raise reject("nested archives are not accepted")
            if lower.endswith(".ifc") and not info.is_dir():
                candidates.append(info)
        if not candidates:
            raise reject("no .ifc member")
        if len(candidates) > 1:
            raise reject(f"{len(candidates)} .ifc members (exactly one expected)")
        info = candidates[0]
        if info.file_size > max_bytes:
            raise reject(f"the IFC member declares {info.file_size} bytes (limit {max_bytes})")
        if info.compress_size and info.file_size / info.compress_size > max_ratio:
            raise reject(
                f"compression ratio {info.file_size / info.compress_size:.0f}:1 (limit {max_ratio:g})"
            )
        written = 0
        try:
            with archive.open(info) as src, open(dest, "xb") as out:
                for block in iter(lambda: src.read(1 << 20), b""):
                    written += len(block)
                    if written > max_bytes or (
                        info.compress_size and written / info.compress_size > max_ratio
                    ):
                        raise reject("the IFC member is larger than it declares")
                    out.write(block)
        except UploadRejected:
            dest.unlink(missing_ok=True)
            raise
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, NotImplementedError) as err:
            dest.unlink(missing_ok=True)
            raise reject(f"the IFC member cannot be read ({type(err).__name__})") from None
    return dest


_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def clean_name(name: str | None, limit: int = 200) -> str | None:
    """The client's file name as safe metadata: no control or bidi characters, no folders, short."""
    if not name:
        return None
    text = "".join("_" if (unicodedata.category(c).startswith("C") or c in _BIDI) else c for c in str(name))
    text = text.replace("/", "_").replace("\\", "_").strip()
    return text[:limit] or None


def sweep_partial_uploads(folder: Path, older_than_s: float = 0.0) -> int:
    """Remove half-received uploads (``*.part``) left by a killed API process."""
    if not folder.is_dir():
        return 0
    now = time.time()
    removed = 0
    for path in folder.glob(f"*{PARTIAL}"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime >= older_than_s:
                path.unlink()
                removed += 1
    return removed
