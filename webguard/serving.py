"""What both web servers run their apps with: security headers and a uvicorn inside a service."""

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

STOP_S = 2  # a request still running when the service stops gets this long
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """HTTP middleware: every answer carries `SECURITY_HEADERS` unless it set its own."""
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class ServiceServer(uvicorn.Server):
    """uvicorn without its signal handlers: the service around it owns SIGTERM and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the process's signal handlers as the service set them."""
        yield


def server_for(app: ASGIApp, certfile: Path | None, keyfile: Path | None) -> ServiceServer:
    """A server for `app`, quiet (the service logs), HTTPS when given a certificate.

    Raises:
        OSError: the certificate or key cannot be read.
        ssl.SSLError: they are not a certificate and its key.
    """
    config = uvicorn.Config(
        app,
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=STOP_S,
        server_header=False,
    )
    config.load()  # reads the certificate now, so a bad one is reported before serving
    return ServiceServer(config)
