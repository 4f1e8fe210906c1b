"""A key press relayed by the centre counts only if Twilio made it to this hub's relay route."""

from typing import cast

from twilio.request_validator import RequestValidator

from notifier.inbox import Inbox, TokenAck
from notifier.settings import TwilioSettings
from notifier.voice_relay import VoiceRelay
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

HOOK = "https://centre.example.org/relay/twilio/home-1/voice"
FORM = {"AccountSid": ACCOUNT_SID, "CallSid": "CA" + "1" * 32, "Digits": "1"}


class Tokens:
    """The inbox's token check: records the tokens it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def accept_token(self, body: str, *, channel: str = "ntfy") -> TokenAck:
        self.asked.append(body)
        return "acknowledged"


def relay(tokens: Tokens) -> VoiceRelay:
    settings = TwilioSettings(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, from_number=FROM_NUMBER
    )
    return VoiceRelay(settings, cast(Inbox, tokens), hook=HOOK, person="Mum")


def signed(url: str, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, FORM)


async def test_a_press_twilio_signed_for_this_hub_s_route_is_heard_with_its_token() -> None:
    tokens = Tokens()
    url = f"{HOOK}?entry=7.abc"

    heard = await relay(tokens).hear(url, FORM, signed(url))

    assert (heard.accepted, heard.refused) == (True, None)
    assert heard.say == "Thank you. Mum will be told you are on your way."
    assert tokens.asked == ["7.abc"]


async def test_a_press_to_another_route_or_not_signed_by_twilio_is_refused_unheard() -> None:
    tokens = Tokens()
    other = "https://centre.example.org/relay/twilio/home-2/voice?entry=7.abc"
    url = f"{HOOK}?entry=7.abc"
    cases = {
        "relay_wrong_url": (other, signed(other)),
        "relay_unsigned": (url, ""),
        "relay_bad_signature": (url, signed(url, token="another account's")),
    }

    for cause, (address, signature) in cases.items():
        heard = await relay(tokens).hear(address, FORM, signature)
        assert (heard.accepted, heard.refused) == (False, cause)
        assert heard.say.startswith("Nothing was acknowledged")
    assert tokens.asked == []
