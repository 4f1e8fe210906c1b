"""Settings a carer may change: a device silenced for a while, and each contact's digest times.

Both go through the engine (`rules.settings`), which keeps them across restarts and refuses
what it must (an emergency device is never silenced); each change is audited with who made it.
A contact logged in by their own login link changes only their own digest times; a passcode
login (carer or installer) may change anyone's. Installer settings (contacts, escalation plans,
pairing) stay in the config file and the CLI.
"""

import logging
import re
from datetime import datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from hub.web.api import Caller, Ctx
from hub.web.auth import Session, changing
from hub.web.context import WebContext
from hub.web.models import (
    DigestTimesChange,
    DigestTimesView,
    SilenceLength,
    SilenceRequest,
    SilenceView,
)
from hub.web.pages import Person, page_session, render
from hub.web.views import device_list, silence_list
from rules.schedule import next_time
from rules.settings import SettingRefusedError

log = logging.getLogger("telecare.web")
router = APIRouter()
pages = APIRouter(include_in_schema=False)
MORNING = time(8, 0)  # "until tomorrow morning": the next 08:00
LENGTHS = {"1h": timedelta(hours=1), "4h": timedelta(hours=4)}
Carer = Annotated[Session, Depends(changing("carer"))]
PageCarer = Annotated[Session, Depends(changing("carer", find=page_session))]
DigestChanger = Annotated[Session, Depends(changing("carer", "installer"))]
PageDigestChanger = Annotated[Session, Depends(changing("carer", "installer", find=page_session))]
_SEPARATORS = re.compile(r"[\s,;]+")


def silence_until(
    length: Literal["1h", "4h", "morning"], now: datetime, zone: ZoneInfo
) -> datetime:
    """When a silence of this length ends."""
    if length in LENGTHS:
        return now + LENGTHS[length]
    return next_time((MORNING,), now, zone)


async def _silence(ctx: WebContext, device_id: str, until: datetime | None, by: str) -> None:
    """Silence (or lift); 404 for an unknown device, 409 with the reason if refused."""
    if device_id not in ctx.control.engine.config.devices:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device")
    try:
        await ctx.control.silence(device_id, until=until, by=by)
    except SettingRefusedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    log.info("device %s silence: %s", device_id, "lifted" if until is None else "set")


def digest_list(ctx: WebContext) -> list[DigestTimesView]:
    """Every contact's digest times, and whether they chose them here."""
    engine, state = ctx.control.engine, ctx.control.state
    return [
        DigestTimesView(
            contact=c.name,
            times=engine.digest_times(state, c.name),
            chosen=c.name in state.digest_at,
        )
        for c in engine.config.contacts
    ]


def may_set_digest(session: Session, contact: str) -> bool:
    """A contact logged in by their own link sets only their own digest; a passcode login any."""
    return session.contact is None or session.contact == contact


async def _set_digest(
    ctx: WebContext, contact: str, change: DigestTimesChange, by: Session
) -> None:
    """Change a contact's digest times.

    404 for an unknown contact, 403 for another contact's from a contact's own login link, 422
    if the engine refuses the times.
    """
    if all(c.name != contact for c in ctx.control.engine.config.contacts):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such contact")
    if not may_set_digest(by, contact):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"logged in as {by.contact} by a login link: only {by.contact}'s own digest times"
            " may be changed",
        )
    try:
        await ctx.control.set_digest_times(contact, change.times, by=by.name)
    except SettingRefusedError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(err)) from err


@router.get("/api/silences", tags=["settings"])
async def get_silences(ctx: Ctx, _: Caller) -> list[SilenceView]:
    """Devices silenced now, until when and by whom."""
    return silence_list(ctx)


@router.post("/api/devices/{device_id}/silence", tags=["settings"])
async def post_silence(
    ctx: Ctx, carer: Carer, device_id: str, request: SilenceRequest
) -> SilenceView:
    """Silence a non-emergency device for 1 h, 4 h or until 08:00; it ends by itself.

    Its non-emergency alarms are recorded in the timeline, and nobody is told. 409 for an
    emergency device (pendant, pull-cord, fall detector, smoke alarm): never silenced.
    """
    until = silence_until(request.length, ctx.clock(), ZoneInfo(ctx.timezone))
    await _silence(ctx, device_id, until, carer.name)
    return SilenceView(device_id=device_id, until=until, by=carer.name)


@router.delete(
    "/api/devices/{device_id}/silence",
    tags=["settings"],
    status_code=status.HTTP_204_NO_CONTENT,
)
async def delete_silence(ctx: Ctx, carer: Carer, device_id: str) -> None:
    """Lift a device's silence before it ends by itself."""
    await _silence(ctx, device_id, None, carer.name)


@router.get("/api/digests", tags=["settings"])
async def get_digests(ctx: Ctx, _: Caller) -> list[DigestTimesView]:
    """Each contact's digest times: chosen on the dashboard, or else as configured."""
    return digest_list(ctx)


@router.put("/api/digests/{contact}", tags=["settings"])
async def put_digest(
    ctx: Ctx, caller: DigestChanger, contact: str, change: DigestTimesChange
) -> DigestTimesView:
    """Set a contact's digest times ("HH:MM"); `[]`: no digest; `null`: back to the config's.

    A contact logged in by their own login link may change only their own (403 for another's);
    a passcode login, carer or installer, may change anyone's.
    """
    await _set_digest(ctx, contact, change, caller)
    return next(d for d in digest_list(ctx) if d.contact == contact)


@pages.post("/devices/{device_id}/silence")
async def silence_from_page(
    ctx: Ctx,
    carer: PageCarer,
    device_id: str,
    length: Annotated[SilenceLength | Literal["off"], Form()],
) -> Response:
    """The devices page's silence form: for a while, or lifted ("off")."""
    until = None
    if length != "off":
        until = silence_until(length, ctx.clock(), ZoneInfo(ctx.timezone))
    await _silence(ctx, device_id, until, carer.name)
    return RedirectResponse("/devices", status.HTTP_303_SEE_OTHER)


@pages.get("/settings")
async def settings_page(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """Digest times per contact, silenced devices, and who changed what."""
    return await _settings(request, ctx, None, status.HTTP_200_OK)


@pages.post("/settings/digest")
async def digest_from_page(
    request: Request,
    ctx: Ctx,
    caller: PageDigestChanger,
    *,
    contact: Annotated[str, Form(max_length=60)],
    times: Annotated[str, Form(max_length=200)] = "",
    configured: Annotated[str | None, Form()] = None,
) -> Response:
    """A contact's digest times typed as "12:30, 18:00", or back to the configured ones."""
    given = None if configured else [t for t in _SEPARATORS.split(times) if t]
    try:
        change = DigestTimesChange.model_validate({"times": given})
    except ValidationError as err:
        problem = err.errors()[0]
        reason = str(problem.get("ctx", {}).get("error", problem["msg"]))
        return await _settings(request, ctx, f"Digest times for {contact}: {reason}", 422)
    try:
        await _set_digest(ctx, contact, change, caller)
    except HTTPException as err:
        refusal = f"Digest times for {contact}: {err.detail}"
        return await _settings(request, ctx, refusal, err.status_code)
    return RedirectResponse("/settings", status.HTTP_303_SEE_OTHER)


async def _settings(
    request: Request, ctx: WebContext, error: str | None, code: int
) -> HTMLResponse:
    return render(
        request,
        "settings.html",
        code,
        digests=digest_list(ctx),
        devices=[d for d in await device_list(ctx) if d.silence is not None],
        changes=await ctx.store.settings_log(limit=20),
        error=error,
    )
