"""Pushover from the CLI (`test-alert`, `doctor`) and the UK sender warnings of `config check`."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from tests.hub.test_cli_notify import ALICE_PHONE, run, write_config
from tests.support.pushover_standin import ALICE_USER, APP_TOKEN, PushoverStandIn
from tests.support.standins import FROM_NUMBER, NtfyStandIn, ThreadedStandIn, TwilioStandIn

CENTRE_WITH_RELAY = f"""[centre]
servers = ["tls://centre.example.org:4222"]
hub_id = "home-1"
password = "hub-password-3f9a"
key = "{"6b1f" * 16}"
relay_url = "https://centre.example.org"
"""


@pytest.fixture
def config(tmp_path: Path) -> Iterator[tuple[Path, PushoverStandIn]]:
    pushover, twilio, ntfy = PushoverStandIn(), TwilioStandIn(), NtfyStandIn()
    with (
        ThreadedStandIn(pushover) as pushover_url,
        ThreadedStandIn(twilio) as twilio_url,
        ThreadedStandIn(ntfy) as ntfy_url,
    ):
        path = write_config(tmp_path / "hub.toml", twilio_url, ntfy_url)
        text = path.read_text().replace(
            f'phone = "{ALICE_PHONE}"', f'phone = "{ALICE_PHONE}"\npushover_user = "{ALICE_USER}"'
        )
        path.write_text(
            f'{text}\n[pushover]\napp_token = "{APP_TOKEN}"\napi_base = "{pushover_url}"\n'
        )
        yield path, pushover


def test_test_alert_reaches_the_carer_s_pushover_app(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, pushover = config

    code, rows = run(path, "--contact", "Alice", "--channel", "pushover")

    [row] = rows
    assert (row["contact"], row["channel"], row["outcome"]) == ("Alice", "pushover", "sent")
    assert code == 0
    [sent] = pushover.to(ALICE_USER)
    assert sent.form["message"].startswith("TEST from the telecare hub")


def test_doctor_says_which_paths_ring_a_silenced_phone(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, pushover = config

    result = CliRunner().invoke(main, ["doctor", "--config", str(path)])

    line = next(x for x in result.output.splitlines() if "silenced phones" in x)
    assert line.startswith("ok"), result.output
    assert "Alice: pushover: yes" in line
    assert "ntfy: Android only" in line
    assert "voice: depends on the phone's settings" in line
    assert "sms: no" in line
    assert pushover.messages == [], "the doctor sends nothing"


def test_a_bad_pushover_user_key_is_refused_naming_the_key(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, _ = config
    path.write_text(path.read_text().replace(ALICE_USER, "not-a-key"))

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert "contacts[0].pushover_user: is not a Pushover user key" in result.output


def test_config_check_warns_of_senders_uk_networks_block_and_whatsapp_s_window(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, _ = config
    text = path.read_text().replace(
        f'from_number = "{FROM_NUMBER}"', 'from_number = "+12025550123"'
    )
    path.write_text(
        text + '\n[escalation.emergency]\nsteps = [{contact = "Alice", channel = "whatsapp"}]\n'
    )

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    warnings = [x for x in result.output.splitlines() if x.startswith("warning: ")]
    assert len(warnings) == 2, result.output
    assert "international (non-UK) long code" in warnings[0]
    assert "July 2024" in warnings[0]
    assert "escalation.emergency.steps[0]" in warnings[1]
    assert "24 hours" in warnings[1]


def test_config_check_is_quiet_about_a_uk_number(config: tuple[Path, PushoverStandIn]) -> None:
    path, _ = config

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def _with(path: Path, twilio: str, escalation: str) -> None:
    text = path.read_text().replace(
        f'from_number = "{FROM_NUMBER}"', f'from_number = "{FROM_NUMBER}"\n{twilio}'
    )
    path.write_text(f"{text}\n{escalation}")


def _sender_id_warnings(path: Path, steps: str) -> list[str]:
    """`config check`'s warnings with SMS from the sender ID TELECARE and these emergency steps."""
    _with(path, 'sms_from = "TELECARE"', f"[escalation.emergency]\nsteps = {steps}\n")

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    return [x for x in result.output.splitlines() if x.startswith("warning: ")]


def test_config_check_warns_when_alarms_by_sms_ask_for_replies_to_a_sender_id(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, _ = config
    steps = '[{contact = "Alice", channel = "voice"}, {contact = "Alice", channel = "sms"}]'

    sender, key_press = _sender_id_warnings(path, steps)

    assert sender.startswith("warning: twilio.sms_from: 'TELECARE' is an alphanumeric sender ID")
    assert "escalation.emergency.steps[1]" in sender
    assert "Reply OK" in sender
    assert key_press.startswith("warning: escalation.emergency.steps[0]: the call rings")


@pytest.mark.parametrize(
    ("twilio", "centre"),
    [
        ('public_url = "https://carers.example.org/mums-hub"', ""),
        ("", CENTRE_WITH_RELAY),
    ],
)
def test_config_check_is_quiet_about_key_presses_with_a_way_back(
    config: tuple[Path, PushoverStandIn], twilio: str, centre: str
) -> None:
    path, _ = config
    steps = '[{contact = "Alice", channel = "voice"}]'
    _with(path, twilio, f"[escalation.emergency]\nsteps = {steps}\n{centre}")

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_config_check_is_quiet_about_a_sender_id_for_info_only(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, _ = config
    _with(
        path,
        'sms_from = "TELECARE"',
        '[escalation.info]\nsteps = [{contact = "Alice", channel = "sms"}]\n',
    )

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    assert "warning" not in result.output


def test_config_check_refuses_a_sender_that_is_neither_naming_the_key(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, _ = config
    _with(path, 'sms_from = "TELE-CARE"', "")

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert "twilio.sms_from:" in result.output


def test_config_check_warns_of_a_sender_id_that_alarms_reach_by_failover(
    config: tuple[Path, PushoverStandIn],
) -> None:
    path, _ = config
    # A Pushover alarm no phone received moves on to ntfy, then SMS: from the sender ID, it
    # would ask Alice for a "Reply OK" that can never reach the hub.
    steps = '[{contact = "Alice", channel = "pushover"}, {contact = "Ben", channel = "outbox"}]'

    [sender] = _sender_id_warnings(path, steps)

    assert sender.startswith("warning: twilio.sms_from: 'TELECARE' is an alphanumeric sender ID")
    assert "escalation.emergency.steps[0] (when its channel fails)" in sender
    assert "steps[1]" not in sender  # the hub's own outbox never fails over
