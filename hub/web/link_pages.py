"""Logging in with a contact's one-time link (`telecare web link`): see `hub.web.login_links`.

The link's page only shows a button; pressing it spends the link and logs the contact in as a
carer, so acknowledgements made then carry the contact's name. Wrong, used and expired links
all get the same answer and count against the same limit as wrong passcodes.
"""

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request, status
from fastapi.responses import HTMLResponse, Response

from hub.web.api import Ctx
from hub.web.context import WebContext
from hub.web.login_links import LINK_PATH, secret_matches, split_token
from hub.web.pages import (
    TooManyTriesError,
    check_login_csrf,
    limited_try,
    login_form,
    start_session,
)

log = logging.getLogger("telecare.web")
router = APIRouter(include_in_schema=False)
SPENT = "This link has expired or was used already. Ask for a new one."


@router.get(LINK_PATH + "{token}")
async def link_page(request: Request, token: str) -> HTMLResponse:
    """The link's landing page: one "Log in" button (a link preview spends nothing)."""
    return login_form(request, "link.html", status.HTTP_200_OK, token=token[:100], error=None)


@router.post(LINK_PATH.rstrip("/"))
async def link_login(
    request: Request,
    ctx: Ctx,
    token: Annotated[str, Form(max_length=100)],
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    """Spend the link (rate-limited with passcodes) and log its contact in as a carer."""
    check_login_csrf(request, csrf)
    try:
        contact = await limited_try(request, lambda: _redeem(ctx, token))
    except TooManyTriesError:
        log.warning("login link refused: too many wrong tries; try again later")
        return login_form(request, "link.html", 429, token=token, error="Too many tries.")
    if contact is None:
        log.info("a wrong, used or expired login link was tried")
        return login_form(request, "link.html", 401, token=None, error=SPENT)
    return start_session(request, ctx, contact, "carer", contact=contact)


async def _redeem(ctx: WebContext, token: str) -> str | None:
    """The contact a token logs in, spending its link; None if it cannot."""
    parts = split_token(token)
    if parts is None:
        return None
    link_id, secret = parts
    link = await ctx.store.login_link(link_id)
    now = ctx.clock()
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    if not await asyncio.to_thread(secret_matches, link.secret_hash, secret):
        return None
    if all(c.name != link.contact for c in ctx.control.engine.config.contacts):
        return None  # no longer a contact
    if not await ctx.store.use_login_link(link_id, at=now):
        return None  # spent by a request a moment before this one
    log.info("login link %d used", link_id)
    return link.contact
