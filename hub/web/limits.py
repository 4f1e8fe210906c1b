"""What the web layer refuses: bodies over a size limit, and every 4xx answer, counted by cause.

Both are plain ASGI wrappers around the app, so they see every route, present and future.
Counts go to the hub's reject log, so `/metrics` shows them beside refused MQTT messages.
"""

from collections.abc import Callable
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024  # a note is at most 500 characters; a login form far less
CAUSES = {
    400: "http_bad_request",
    401: "http_not_logged_in",
    403: "http_forbidden",
    404: "http_not_found",
    405: "http_method_not_allowed",
    409: "http_conflict",
    413: "http_body_too_large",
    422: "http_invalid_request",
    429: "http_too_many_tries",
}

Reject = Callable[[str, str, str], None]
"""Counts one refusal: (cause, where, detail)."""


def where(scope: Scope) -> str:
    """The method and route a request matched (its template, so ids do not flood the log)."""
    route = scope.get("route")
    path = getattr(route, "path", None) or "(no route)"
    return f"{scope.get('method', '?')} {path}"


class BodyLimit:
    """Refuses (413) a request body over `max_bytes`, declared or streamed, before the app reads it.

    A body within the limit is read here and handed on whole, so the app never buffers more.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body within the limit, then run the app on it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, send: Send) -> None:
        code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
        text = f"{code.phrase}: a request body may be at most {self.max_bytes} bytes"
        await send(
            {
                "type": "http.response.start",
                "status": code,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")],
            }
        )
        await send({"type": "http.response.body", "body": text.encode()})


class RejectCounter:
    """Counts every 4xx answer by cause (`http_forbidden`, `http_body_too_large`...)."""

    def __init__(self, app: ASGIApp, *, reject: Reject) -> None:
        self.app = app
        self.reject = reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, counting its answer if it refused the request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start":
                code = int(message["status"])
                if HTTPStatus.BAD_REQUEST <= code < HTTPStatus.INTERNAL_SERVER_ERROR:
                    cause = CAUSES.get(code, f"http_{code}")
                    self.reject(cause, where(scope), HTTPStatus(code).phrase)
            await send(message)

        await self.app(scope, receive, counting)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body as one message, then the client's own messages (a disconnect, for streams)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
