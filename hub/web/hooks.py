"""Twilio's web hooks over HTTP: `/hooks/twilio/voice`, `/hooks/twilio/sms`, `/hooks/twilio/status`.

Included only when `[twilio] public_url` is set. Twilio can hold no login session or CSRF token,
so these routes take none; instead every request must carry a valid `X-Twilio-Signature` over
the configured public URL. An unsigned or wrongly signed request is answered 403, acted on in no
way, and counted on `/metrics` by cause (`twilio_unsigned`, `twilio_bad_signature`).
"""

from fastapi import APIRouter, HTTPException, Request, Response, status

from hub.web.context import WebContext
from notifier.channels.twilio import ENTRY_PARAM, SMS_HOOK, STATUS_HOOK, VOICE_HOOK
from notifier.twilio_hooks import TwilioHooks

TWIML = "application/xml"
SIGNATURE_HEADER = "X-Twilio-Signature"

router = APIRouter(include_in_schema=False)


async def _signed_form(request: Request, path: str) -> tuple[TwilioHooks, dict[str, str]]:
    """The request's form fields, once its signature is found genuine.

    Raises:
        HTTPException: 403 when the signature is missing or wrong (counted, nothing done).
    """
    ctx: WebContext = request.app.state.context
    hooks = ctx.twilio_hooks
    assert hooks is not None  # the router is included only with hooks
    form = await request.form()
    fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
    signature = request.headers.get(SIGNATURE_HEADER)
    if not hooks.signed(path, request.url.query, fields, signature):
        if signature:
            ctx.rejects.reject("twilio_bad_signature", path, "X-Twilio-Signature does not match")
        else:
            ctx.rejects.reject("twilio_unsigned", path, "no X-Twilio-Signature")
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not signed by Twilio")
    return hooks, fields


@router.post(VOICE_HOOK)
async def voice(request: Request) -> Response:
    """A key pressed (or none) on an alert's call."""
    hooks, fields = await _signed_form(request, VOICE_HOOK)
    twiml = await hooks.voice(request.query_params.get(ENTRY_PARAM), fields)
    return Response(twiml, media_type=TWIML)


@router.post(SMS_HOOK)
async def sms(request: Request) -> Response:
    """A message to the hub's number."""
    hooks, fields = await _signed_form(request, SMS_HOOK)
    return Response(await hooks.sms(fields), media_type=TWIML)


@router.post(STATUS_HOOK)
async def delivery_status(request: Request) -> Response:
    """A message's or call's delivery report."""
    hooks, fields = await _signed_form(request, STATUS_HOOK)
    await hooks.status(fields)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
