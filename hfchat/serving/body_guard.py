"""Every request body is checked before a route sees it: size, content type, UTF-8, JSON and nesting depth.

A body that fails is answered at once with a JSON error in the route's format (400 for bytes that are not UTF-8
JSON or nest too deeply, 413 over the size limit, 415 for a content type other than JSON), the connection stays
answered and the server unaffected. A body that passes reaches the route unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 64  # arrays and objects inside each other; a chat request needs about 6
BODY_METHODS = (b"POST", b"PUT", b"PATCH")


class BodyError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def depth(value) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def check_body(body: bytes, content_type: str) -> None:
    """Raise `BodyError` unless ``body`` is empty or a UTF-8 JSON document of at most `MAX_DEPTH` levels."""
    if not body:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise BodyError(415, f"content-type must be application/json, got {media_type or 'none'!r}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyError(400, f"the request body is not valid UTF-8 (byte {error.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise BodyError(400, f"the request body is not valid JSON: {error.msg} at line {error.lineno} column "
                             f"{error.colno}") from None
    except RecursionError:
        raise BodyError(400, f"the request body nests arrays or objects more than {MAX_DEPTH} deep") from None
    if depth(value) > MAX_DEPTH:
        raise BodyError(400, f"the request body nests arrays or objects more than {MAX_DEPTH} deep")


class BodyGuard:
    """ASGI middleware: reads a body (up to ``max_body_bytes``), checks it (`check_body`), then hands it on.

    ``error_payload(path, status, message)`` gives the JSON object to answer a failed body with."""

    def __init__(self, app, max_body_bytes: int, error_payload: Callable[[str, int, str], dict]):
        self.app, self.max_body_bytes, self.error_payload = app, max_body_bytes, error_payload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"].encode() not in BODY_METHODS:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        try:
            body = await self._read(headers, receive)
            if body is None:  # the client left
                return
            check_body(body, headers.get(b"content-type", b"").decode("latin-1"))
        except BodyError as error:
            return await self._answer(scope, send, error)
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, headers: dict, receive) -> bytes | None:
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise BodyError(413, f"the request body has {int(declared)} bytes; at most {self.max_body_bytes} are "
                                 "allowed (--max-body-bytes)")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyError(413, f"the request body is over {self.max_body_bytes} bytes (--max-body-bytes)")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _answer(self, scope, send, error: BodyError) -> None:
        payload = json.dumps(self.error_payload(scope["path"], error.status, error.message)).encode()
        await send({"type": "http.response.start", "status": error.status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})
