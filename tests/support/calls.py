"""Playing Twilio's side of an alert call: the hub's `[twilio]`, the call's TwiML, the forms."""

from typing import Any
from xml.etree import ElementTree

from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER


def twilio_section(api_base: str, **more: str) -> dict[str, str]:
    """`[twilio]` for the stand-in at `api_base` (plus `public_url` and the like)."""
    return {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM_NUMBER,
        "api_base": api_base,
        **more,
    }


def gather_action(call: dict[str, Any]) -> str:
    """Where the call's TwiML tells Twilio to post the key pressed."""
    gather = ElementTree.fromstring(call["twiml"]).find("Gather")
    assert gather is not None
    return str(gather.get("action"))


def call_form(call: dict[str, Any], **extra: str) -> dict[str, str]:
    """The form Twilio posts about a call in progress (`Digits=...` for a key pressed)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "CallSid": call["sid"],
        "From": FROM_NUMBER,
        "To": call["to"],
        "CallStatus": "in-progress",
        **extra,
    }


def spoken(twiml: str) -> str:
    """What a TwiML answer says."""
    return " ".join(say.text or "" for say in ElementTree.fromstring(twiml).iter("Say"))
