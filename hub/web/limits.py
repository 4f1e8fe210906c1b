"""What the web layer refuses, counted by cause: every 4xx answer.

Bodies over the size limit of `webguard.limits.BodyLimit` (413) are counted among them.

A plain ASGI wrapper around the app, so it sees every route, present and future. Counts go to
the hub's reject log, so `/metrics` shows them beside refused MQTT messages.
"""

from collections.abc import Callable
from http import HTTPStatus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
