"""The project's numba decorators: ``jit`` and ``pjit``, with the JIT options set in one place.

Every kernel in ``kernels/`` is compiled through these two wrappers around
:func:`numba.njit`; no kernel file spells ``cache=`` or ``fastmath=`` itself
(STYLE.md §4.4, a CI grep checks it).  The defaults are

* ``cache=True``: compiled machine code is stored next to the module
  (``__pycache__``) so that later processes skip compilation;
* ``fastmath=False``: IEEE semantics, NaN and infinities behave;
* ``parallel=True`` only for :func:`pjit` (kernels that ``prange`` over
  independent output rows).

A deployment overrides them from the environment, read once at import:

``TWIN_NUMBA_CACHE``
    ``0``/``false``/``no``/``off`` disables the on-disk cache (e.g. several
    processes compiling at once on a shared, read-only or network folder).
``TWIN_NUMBA_FASTMATH``
    ``0``/``false`` (default) or ``1``/``true`` for the safe flag set
    ``{"nsz", "arcp", "contract", "afn", "reassoc"}``, or a comma-separated
    list of LLVM fast-math flags.  ``nnan``, ``ninf`` and ``fast`` are
    refused: the twin uses NaN for missing values.

``NUMBA_DISABLE_JIT=1`` (numba's own switch) turns both wrappers into plain
Python, for coverage and debuggers.

This module reads the environment and therefore imports :mod:`os`; it is the
configuration module of ``kernels/``, the kernels themselves import only
numpy, numba and math.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numba

# Parallel kernels alternate with serial work.  Under GNU OpenMP's default (active)
# wait policy idle workers spin and, on a busy 2-core machine, made each parallel
# call ~50x slower (158 ms instead of 3 ms per all-or-nothing load on Anaheim; the
# mobility reference sheet saw the same with AequilibraE).  The setting only takes
# effect before an OpenMP runtime starts, hence here; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["CACHE", "FASTMATH", "SAFE_FASTMATH_FLAGS", "jit", "pjit"]

F = TypeVar("F", bound=Callable[..., Any])

#: Fast-math flags that keep NaN and infinity semantics (used for ``TWIN_NUMBA_FASTMATH=1``).
SAFE_FASTMATH_FLAGS: frozenset[str] = frozenset({"nsz", "arcp", "contract", "afn", "reassoc"})
_UNSAFE_FLAGS = frozenset({"nnan", "ninf", "fast"})
_FALSE = {"0", "false", "no", "off", ""}
_TRUE = {"1", "true", "yes", "on"}


def _cache_from_env(value: str | None) -> bool:
    if value is None:
        return True
    v = value.strip().lower()
    if v in _FALSE:
        return False
    if v in _TRUE:
        return True
    raise ValueError(f"TWIN_NUMBA_CACHE={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off.")


def _fastmath_from_env(value: str | None) -> bool | frozenset[str]:
    if value is None:
        return False
    v = value.strip().lower()
    if v in _FALSE:
        return False
    if v in _TRUE:
        return SAFE_FASTMATH_FLAGS
    flags = frozenset(f.strip() for f in v.split(",") if f.strip())
    bad = flags & _UNSAFE_FLAGS
    if bad:
        raise ValueError(
            f"TWIN_NUMBA_FASTMATH={value!r} contains {sorted(bad)}: the twin stores missing values as NaN, "
            f"so nnan/ninf/fast are refused; choose among {sorted(SAFE_FASTMATH_FLAGS)}."
        )
    return flags


#: Whether compiled kernels are cached on disk (``TWIN_NUMBA_CACHE``, default on).
CACHE: bool = _cache_from_env(os.environ.get("TWIN_NUMBA_CACHE"))
#: Fast-math setting of every kernel (``TWIN_NUMBA_FASTMATH``, default off).
FASTMATH: bool | frozenset[str] = _fastmath_from_env(os.environ.get("TWIN_NUMBA_FASTMATH"))


def _options(parallel: bool, overrides: dict[str, Any]) -> dict[str, Any]:
    for key in ("cache", "fastmath", "parallel"):
        if key in overrides:
            raise TypeError(
                f"{key}= is set project-wide in kernels/_jit.py (TWIN_NUMBA_* environment variables); "
                "do not pass it to jit/pjit."
            )
    fm = set(FASTMATH) if isinstance(FASTMATH, frozenset) else FASTMATH
    return {"cache": CACHE, "fastmath": fm, "parallel": parallel, **overrides}


def jit(func: F | None = None, **overrides: Any) -> Any:
    """Compile ``func`` with :func:`numba.njit` and the project defaults (serial).

    Parameters
    ----------
    func
        The function to compile; omit it to use ``@jit(...)`` with options.
    **overrides
        Other :func:`numba.njit` options (``inline``, ``error_model``, ...).
        ``cache``, ``fastmath`` and ``parallel`` are refused: they are
        project settings.

    Returns
    -------
    numba dispatcher, or a decorator when ``func`` is omitted.

    Examples
    --------
    In a kernel module (functions defined in a file, so that they can be cached)::

        @jit
        def twice(x):
            return 2.0 * x

    >>> from kernels.energy import utilisation_factor   # compiled with @jit
    >>> utilisation_factor.targetoptions["parallel"], utilisation_factor.targetoptions["fastmath"] == FASTMATH
    (False, True)
    """
    options = _options(False, overrides)
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)


def pjit(func: F | None = None, **overrides: Any) -> Any:
    """Like :func:`jit` but with ``parallel=True`` (for kernels using ``numba.prange``).

    ``prange`` may only iterate over independent output rows (each iteration
    writes its own slice), never accumulate into shared arrays.

    Examples
    --------
    In a kernel module::

        @pjit
        def squares(x, out):
            for i in numba.prange(x.shape[0]):  # each iteration writes its own row
                out[i] = x[i] * x[i]

    >>> from kernels.energy import monthly_heat_balance   # compiled with @pjit
    >>> monthly_heat_balance.targetoptions["parallel"]
    True
    """
    options = _options(True, overrides)
    if func is None:
        return lambda f: numba.njit(**options)(f)
    return numba.njit(**options)(func)
