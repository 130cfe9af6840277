"""Shared plumbing of the ``twin`` command line: consoles, one-line errors, progress bars.

Every sub-command module (``twin/cli_*.py``) uses these so that all commands
fail the same way (one line on stderr, exit code 1; ``TWIN_DEBUG=1`` for the
traceback) and show the same progress bars.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from twin.errors import TwinWarning

__all__ = ["State", "errors", "fail", "out", "err", "progress", "show_warning"]

out = Console()
err = Console(stderr=True)


class State:
    quiet = False


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings reach the user as one line each (counted repairs, estimates); --quiet keeps ours only."""
    if State.quiet and not issubclass(category, TwinWarning):
        return
    err.print(f"twin: warning: {message}", markup=False, highlight=False, soft_wrap=True)


def fail(message: str) -> None:
    err.print(f"twin: error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


@contextmanager
def errors() -> Iterator[None]:
    """Turn every failure into one line on stderr and exit code 1."""
    from twin.errors import TwinError

    try:
        yield
    except typer.Exit:
        raise
    except TwinError as err:
        if os.environ.get("TWIN_DEBUG"):
            raise
        fail(str(err))
    except (OSError, ValueError, KeyError, RuntimeError, MemoryError) as err:
        if os.environ.get("TWIN_DEBUG"):
            raise
        fail(f"{type(err).__name__}: {err}")
    except Exception as err:  # a bug of ours: still one line, and how to get the details
        if os.environ.get("TWIN_DEBUG"):
            raise
        fail(f"internal error ({type(err).__name__}: {err}); rerun with TWIN_DEBUG=1 for the traceback")


@contextmanager
def progress() -> Iterator[Callable[[str, int, int], None]]:
    if State.quiet or not sys.stderr.isatty():
        yield lambda step, done, total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1)

        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=max(total, 1))

        yield update
