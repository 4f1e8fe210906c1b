"""`telecare test-alert` against the Twilio and ntfy stand-ins."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from tests.support.standins import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    NtfyStandIn,
    ThreadedStandIn,
    TwilioStandIn,
)

ALICE_PHONE = "+447700900123"
BEN_PHONE = "+447700900456"


@pytest.fixture
def stand_ins() -> Iterator[tuple[TwilioStandIn, NtfyStandIn, str, str]]:
    twilio, ntfy = TwilioStandIn(), NtfyStandIn()
    with ThreadedStandIn(twilio) as twilio_url, ThreadedStandIn(ntfy) as ntfy_url:
        yield twilio, ntfy, twilio_url, ntfy_url


def write_config(path: Path, twilio_url: str, ntfy_url: str) -> Path:
    path.write_text(
        f"""
[home]
person = "Mum"

[store]
path = "{path.parent / "hub.db"}"

[[contacts]]
name = "Alice"
phone = "{ALICE_PHONE}"
ntfy_topic = "alice-phone"

[[contacts]]
name = "Ben"
phone = "{BEN_PHONE}"

[twilio]
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
from_number = "{FROM_NUMBER}"
api_base = "{twilio_url}"
timeout_s = 2

[ntfy]
server = "{ntfy_url}"
"""
    )
    path.chmod(0o640)  # it holds a secret: not readable by everyone
    return path


def run(config: Path, *args: str) -> tuple[int, list[dict[str, str]]]:
    result = CliRunner().invoke(
        main, ["test-alert", "--config", str(config), "--json", "--wait", "5", *args]
    )
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, rows


def test_every_channel_of_every_contact_is_tested_and_reported(
    tmp_path: Path, stand_ins: tuple[TwilioStandIn, NtfyStandIn, str, str]
) -> None:
    twilio, ntfy, twilio_url, ntfy_url = stand_ins
    twilio.final_status[ALICE_PHONE] = ("delivered", None)
    twilio.bad_numbers.add(BEN_PHONE)
    config = write_config(tmp_path / "hub.toml", twilio_url, ntfy_url)

    code, rows = run(config)

    outcomes = {(r["contact"], r["channel"]): r["outcome"] for r in rows}
    assert outcomes == {
        ("Alice", "ntfy"): "sent",
        ("Alice", "sms"): "delivered",
        ("Alice", "whatsapp"): "delivered",
        ("Alice", "voice"): "sent",
        ("Ben", "sms"): "failed",
        ("Ben", "whatsapp"): "failed",
        ("Ben", "voice"): "sent",
    }
    ben_sms = next(r for r in rows if (r["contact"], r["channel"]) == ("Ben", "sms"))
    assert "21211" in ben_sms["detail"]
    assert "is not a valid phone number" in ben_sms["detail"]
    assert code == 1
    [pushed] = ntfy.on_topic("alice-phone")
    assert pushed["message"].startswith("TEST from the telecare hub at Mum's home")


def test_one_contact_one_channel_and_an_undelivered_report(
    tmp_path: Path, stand_ins: tuple[TwilioStandIn, NtfyStandIn, str, str]
) -> None:
    twilio, _, twilio_url, ntfy_url = stand_ins
    twilio.final_status[ALICE_PHONE] = ("undelivered", 30003)
    config = write_config(tmp_path / "hub.toml", twilio_url, ntfy_url)

    code, rows = run(config, "--contact", "Alice", "--channel", "sms")

    [row] = rows
    assert (row["contact"], row["channel"], row["outcome"]) == ("Alice", "sms", "failed")
    assert "undelivered" in row["detail"]
    assert code == 1
    assert len(twilio.outbound()) == 1


def test_a_contact_without_an_address_for_the_channel_is_reported(
    tmp_path: Path, stand_ins: tuple[TwilioStandIn, NtfyStandIn, str, str]
) -> None:
    _, ntfy, twilio_url, ntfy_url = stand_ins
    config = write_config(tmp_path / "hub.toml", twilio_url, ntfy_url)

    code, rows = run(config, "--contact", "Ben", "--channel", "ntfy", "--channel", "apprise")

    assert [(r["channel"], r["outcome"]) for r in rows] == [
        ("ntfy", "failed"),
        ("apprise", "failed"),
    ]
    assert rows[0]["detail"] == "Ben has no address for ntfy"
    assert rows[1]["detail"] == "apprise is not configured for this hub"
    assert code == 1
    assert ntfy.published == []


def test_an_unknown_contact_is_a_usage_error(
    tmp_path: Path, stand_ins: tuple[TwilioStandIn, NtfyStandIn, str, str]
) -> None:
    _, _, twilio_url, ntfy_url = stand_ins
    config = write_config(tmp_path / "hub.toml", twilio_url, ntfy_url)

    result = CliRunner().invoke(main, ["test-alert", "--config", str(config), "--contact", "Zoe"])

    assert result.exit_code == 2
    assert "no such contact: Zoe" in result.output


def test_doctor_checks_each_providers_credentials_without_sending(
    tmp_path: Path, stand_ins: tuple[TwilioStandIn, NtfyStandIn, str, str]
) -> None:
    twilio, ntfy, twilio_url, ntfy_url = stand_ins
    good = write_config(tmp_path / "hub.toml", twilio_url, ntfy_url)
    healthy = CliRunner().invoke(main, ["doctor", "--config", str(good)])
    channels = next(line for line in healthy.output.splitlines() if "channels" in line)
    assert channels.startswith("ok"), healthy.output

    wrong = tmp_path / "wrong.toml"
    wrong.write_text(good.read_text().replace(AUTH_TOKEN, "not-the-token"))
    wrong.chmod(0o640)
    broken = CliRunner().invoke(main, ["doctor", "--config", str(wrong)])
    channels = next(line for line in broken.output.splitlines() if "channels" in line)
    assert channels.startswith("PROBLEM"), broken.output
    assert "twilio" in channels
    assert twilio.outbound() == [], "the doctor sends nothing"
    assert ntfy.on_topic("alice-phone") == []
