"""Acknowledgement tokens and SMS reply keywords."""

import pytest

from notifier.acks import AckTokens
from notifier.replies import Reply, parse_reply
from tests.notifier.entries import entry


def test_a_token_names_its_notification() -> None:
    tokens = AckTokens(b"k" * 32)
    assert tokens.entry_id(tokens.token(entry(id=41))) == 41


@pytest.mark.parametrize(
    "forged", ["41", "41.", "41.AAAAAAAAAAAAAAAAAAAAAA", "x.y", "", "42.{sig}"]
)
def test_forged_or_garbled_tokens_are_refused(forged: str) -> None:
    tokens = AckTokens(b"k" * 32)
    signature = tokens.token(entry(id=41)).partition(".")[2]
    assert tokens.entry_id(forged.format(sig=signature)) is None


def test_another_hub_s_token_is_refused() -> None:
    assert AckTokens(b"a" * 32).entry_id(AckTokens(b"b" * 32).token(entry(id=1))) is None


@pytest.mark.parametrize(
    ("body", "reply"),
    [
        ("OK", Reply("ack")),
        (" ok. ", Reply("ack")),
        ("Ack 12", Reply("ack", 12)),
        ("ACK #7", Reply("ack", 7)),
        ("status", Reply("status")),
        ("Home", Reply("home")),
        ("AWAY", Reply("away")),
        ("help?", Reply("help")),
        ("ok thanks see you later", Reply("unknown")),
        ("ACK twelve", Reply("unknown")),
        ("", Reply("unknown")),
    ],
)
def test_reply_keywords(body: str, reply: Reply) -> None:
    assert parse_reply(body) == reply
