"""`config check` warns when a failed alarm delivery would be noticed later than 30 s."""

from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from tests.hub.test_cli_notify import ALICE_PHONE, write_config
from tests.support.pushover_standin import ALICE_USER, APP_TOKEN
from tests.support.standins import FROM_NUMBER

NOWHERE = "http://127.0.0.1:9"  # `config check` asks no provider anything


def _warnings(tmp_path: Path, *, twilio: str = "", pushover: str | None = None) -> list[str]:
    tmp_path.mkdir(exist_ok=True)
    path = write_config(tmp_path / "hub.toml", NOWHERE, NOWHERE)
    text = path.read_text().replace(
        f'from_number = "{FROM_NUMBER}"', f'from_number = "{FROM_NUMBER}"\n{twilio}'
    )
    if pushover is not None:
        text = text.replace(
            f'phone = "{ALICE_PHONE}"', f'phone = "{ALICE_PHONE}"\npushover_user = "{ALICE_USER}"'
        )
        text += f'\n[pushover]\napp_token = "{APP_TOKEN}"\napi_base = "{NOWHERE}"\n{pushover}\n'
    steps = '[{contact = "Alice", channel = "sms"}, {contact = "Ben", channel = "sms"}]'
    path.write_text(f"{text}\n[escalation.emergency]\nsteps = {steps}\n")

    result = CliRunner().invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    return [x for x in result.output.splitlines() if x.startswith("warning: ")]


def test_a_slow_twilio_poll_without_status_callbacks_is_warned_of(tmp_path: Path) -> None:
    [warning] = _warnings(tmp_path, twilio="poll_s = 60")

    assert warning.startswith("warning: twilio.poll_s: 60 s between polls")
    assert "Alice, Ben" in warning
    assert "30 s or less" in warning


def test_status_callbacks_or_a_short_poll_need_no_warning(tmp_path: Path) -> None:
    public = 'poll_s = 60\npublic_url = "https://carers.example.org/hub"'
    assert _warnings(tmp_path / "a", twilio=public) == []
    assert _warnings(tmp_path / "b", twilio="poll_s = 30") == []


def test_a_long_pushover_delivery_window_is_warned_of(tmp_path: Path) -> None:
    [warning] = _warnings(tmp_path, pushover="delivery_window_s = 60")

    assert warning.startswith("warning: pushover.delivery_window_s: an emergency to Alice")
    assert "up to 65 s after it was sent" in warning


def test_pushover_s_defaults_need_no_warning(tmp_path: Path) -> None:
    assert _warnings(tmp_path, pushover="") == []
