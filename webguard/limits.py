"""A request body over a size limit is refused (413) before the app reads any of it."""

from collections.abc import Mapping
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024  # a note is at most 500 characters; a login form far less


class BodyLimit:
    """Refuses (413) a request body over `max_bytes`, declared or streamed, before the app reads it.

    `under` gives the paths starting with a prefix a limit of their own (a public route that
    takes less than the rest). A body within the limit is read here and handed on whole, so the
    app never buffers more.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int = MAX_BODY_BYTES,
        under: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.under = dict(under or {})

    def limit(self, path: str) -> int:
        """The most bytes a body sent to `path` may have."""
        return next(
            (n for prefix, n in self.under.items() if path.startswith(prefix)), self.max_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read the body within the limit, then run the app on it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _refuse(send, limit)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _refuse(send, limit)
                return
        await self.app(scope, _replay(bytes(body), receive), send)


async def _refuse(send: Send, limit: int) -> None:
    code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    text = f"{code.phrase}: a request body may be at most {limit} bytes"
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": text.encode()})


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
