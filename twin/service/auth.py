"""API keys with roles: creation, hashing at rest, and the FastAPI dependencies that check them.

A key is ``twk_`` + 43 url-safe random characters (256 bits); only its sha256 is stored.
Requests send ``Authorization: Bearer <key>``.  A missing or unknown key gives 401 (never 422:
:class:`fastapi.security.HTTPBearer` with ``auto_error=False``), a role that may not use an
endpoint 403.  ``admin`` may use every endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from twin.service.store import JobStore

__all__ = ["ROLES", "Principal", "generate_key", "hash_key", "create_key", "get_principal", "require"]

#: The roles a key can have.
ROLES = ("analyst", "architect", "reviewer", "admin")

bearer = HTTPBearer(auto_error=False, description="An API key created with `twin keys create`.")


@dataclass(frozen=True)
class Principal:
    """The caller, as identified by its API key."""

    id: str
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def generate_key() -> str:
    """A new random API key."""
    return "twk_" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key (hex sha256)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: JobStore, role: str, name: str = "") -> tuple[str, str]:
    """Create a key with ``role``; returns ``(key_id, key)`` -- the key is not stored, only its hash.

    Raises
    ------
    ValueError
        ``role`` is not one of :data:`ROLES`.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    key = generate_key()
    key_id = store.add_key(name or role, role, hash_key(key))
    return key_id, key


class _KeyCache:
    """A few seconds of memory of recent key look-ups, so reads do not hit the store each time."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, store: JobStore, digest: str) -> Principal | None:
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(digest)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        row = store.find_key(digest)
        found = None
        if row is not None and hmac.compare_digest(row["key_hash"], digest):
            found = Principal(id=row["id"], name=row["name"], role=row["role"])
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (now, found)
        return found


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
) -> Principal:
    """The authenticated caller; 401 when the key is missing, malformed or unknown."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    key = credentials.credentials
    if len(key) > 200:
        raise _unauthorized("invalid API key")
    cache: _KeyCache = request.app.state.key_cache
    principal = cache.lookup(request.app.state.store, hash_key(key))
    if principal is None:
        raise _unauthorized("invalid API key")
    request.state.principal = principal
    return principal


def require(*roles: str) -> Callable[..., Principal]:
    """Dependency factory: the caller must have one of ``roles`` (admin always passes) or get 403."""
    allowed = frozenset(roles) | {"admin"}

    def check(principal: Principal = Depends(get_principal)) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"role {principal.role!r} may not use this endpoint (allowed: {', '.join(sorted(allowed))})",
            )
        return principal

    check.__name__ = f"require_{'_'.join(sorted(allowed))}"
    return check
