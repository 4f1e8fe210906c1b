"""`POST /relay/twilio/<hub>/voice`: the key pressed on a home's alert call, for its hub.

A public route: Twilio holds no session or CSRF token, so none is asked for. It is served only
with `[console] public_url` and a relay. What it takes is bounded (body size, form fields, a
rate per hub); an unknown hub is 404. The request is passed on as Twilio sent it (the URL as the
console is reached from outside, the form, `X-Twilio-Signature`); the centre checks none of it,
because only the hub can: Twilio's signature is made with the home's auth token, which the
centre does not hold, and the URL carries the hub's own token for the call. Twilio is answered
with TwiML saying the hub's answer, or, if it does not come in time, `PASSED_ON`.
"""

import logging
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Path, Request, Response, status

from centre.bus import BusError
from centre.console.access import Ctx
from centre.relay import UnknownHubError
from notifier.channels.twiml import voice_reply
from wire.uplink import HUB_ID_PATTERN, MAX_RELAY_FIELDS, relay_voice_path

log = logging.getLogger("telecare.centre.relay")
RELAY_PREFIX = "/relay/"
RELAY_MAX_BODY_BYTES = 16 * 1024  # what Twilio posts is far smaller
MAX_VALUE_CHARS = 1000
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM_TYPE = "application/x-www-form-urlencoded"
NOT_PASSED_ON = (
    "Sorry, your answer could not be passed on, so the others are still being called. Goodbye."
)
HubId = Annotated[str, Path(pattern=HUB_ID_PATTERN)]

router = APIRouter(include_in_schema=False)


async def _bounded_form(request: Request) -> dict[str, str]:
    """The request's form fields, refused if not a form as Twilio sends it."""
    if request.headers.get("content-type", "").split(";")[0].strip() != FORM_TYPE:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "a form is expected")
    body = await request.body()  # at most RELAY_MAX_BODY_BYTES: the console's BodyLimit
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_RELAY_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a form Twilio sends") from None
    if any(len(value) > MAX_VALUE_CHARS for _, value in pairs):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "not a form Twilio sends")
    return dict(pairs)


@router.post("/relay/twilio/{hub_id}/voice")
async def relay_voice(ctx: Ctx, request: Request, hub_id: HubId) -> Response:
    """A key pressed (or none) on an alert call of `hub_id`'s home, for its hub to act on."""
    relay, public_url = ctx.relay, ctx.settings.public_url
    assert relay is not None and public_url is not None  # the route is served only with both
    if not ctx.relay_limiter.take(hub_id):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many requests")
    form = await _bounded_form(request)
    query = request.url.query
    url = public_url.rstrip("/") + relay_voice_path(hub_id) + (f"?{query}" if query else "")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    try:
        answer = await relay.relay(hub_id, url, form, signature)
    except UnknownHubError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such hub") from None
    except BusError as err:
        log.warning("a key press for %s could not be relayed: %s", hub_id, err)
        return Response(voice_reply(NOT_PASSED_ON), media_type="application/xml")
    if not answer.from_hub:
        log.warning("hub %s did not answer a relayed key press in time", hub_id)
    return Response(voice_reply(answer.say), media_type="application/xml")
