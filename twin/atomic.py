"""Atomic writes: outputs appear complete or not at all.

Every writer of the project writes into a temporary sibling of its target
and renames it into place only when the write succeeded; on failure the
temporary file is removed and an existing target is left untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from twin.errors import StoreError

__all__ = ["atomic_path", "atomic_text_file"]


class atomic_path:
    """Context manager yielding a temporary sibling path renamed onto ``path`` on success.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "out.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (d / "out.txt").read_text()
    'done'
    """

    def __init__(self, path: str | os.PathLike, *, directory: bool = False) -> None:
        self.path = Path(path)
        self.directory = directory

    def __enter__(self) -> Path:
        parent = self.path.parent if str(self.path.parent) else Path(".")
        if not parent.is_dir():
            raise StoreError(f"Cannot write {self.path}: folder {parent} does not exist.")
        if self.directory:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=parent))
        else:
            fd, name = tempfile.mkstemp(prefix=f".{self.path.stem}.", suffix=self.path.suffix, dir=parent)
            os.close(fd)
            os.unlink(name)
            self.tmp = Path(name)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            if self.directory and self.path.exists():
                shutil.rmtree(self.path) if self.path.is_dir() else self.path.unlink()
            os.replace(self.tmp, self.path)
            return
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_text_file(path: str | os.PathLike) -> Iterator[IO[str]]:
    """Open a UTF-8 text file that replaces ``path`` only if the ``with`` block succeeds."""
    with atomic_path(path) as tmp, open(tmp, "x", encoding="utf-8", newline="") as fh:
        yield fh
