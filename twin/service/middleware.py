"""Pure ASGI middleware: the request body cap, refused methods and security headers.

Starlette has no total body limit, so this one enforces ``max_bytes`` twice: from the declared
``Content-Length`` (413 before a byte is read) and while the body streams (the wrapped
``receive`` raises a 413 :class:`~starlette.exceptions.HTTPException` as soon as the count passes
the cap, which the app's handler turns into a response and the upload writer into a deleted
temporary file).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GuardMiddleware"]

_REFUSED_METHODS = {"TRACE", "TRACK", "CONNECT"}


class GuardMiddleware:
    """Body cap, TRACE/TRACK/CONNECT → 405, and ``X-Content-Type-Options: nosniff`` on every answer."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reply(self, send: Send, status: int, detail: str, extra: list | None = None) -> None:
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"connection", b"close"),
            *(extra or []),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"].upper() in _REFUSED_METHODS:
            await self._reply(send, 405, "method not allowed", [(b"allow", b"GET, POST, DELETE, OPTIONS")])
            return
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reply(send, 400, "invalid Content-Length")
                    return
        if declared is not None and declared > self.max_bytes:
            await self._reply(send, 413, f"request body larger than the limit of {self.max_bytes} bytes")
            return
        received = 0
        limit = self.max_bytes

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"request body larger than the limit of {limit} bytes")
            return message

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, counted_receive, secured_send)
