"""Rule settings in the configuration file: each problem named by its key, at check and at start."""

import os
from pathlib import Path

import pytest

from hub.config.file import ConfigError, load_config

MINIMAL = '[[contacts]]\nname = "Alice"\n'
WORKING = '[[contacts]]\nname = "Alice"\nwork_hours = ["{hours}"]\n'


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TELECARE_"):
            monkeypatch.delenv(name)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "hub.toml"
    path.write_text(text if text.startswith("[[contacts]]") else MINIMAL + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[policy.door]\nnight = "22:00"\n', "policy.door.night: '22:00' is not a daily window"),
        (WORKING.format(hours="9 to 5"), "contacts[0].work_hours[0]: '9 to 5' is not working"),
        (
            '[[contacts]]\nname = "Alice"\ndigest_at = ["noon"]\n',
            "contacts[0].digest_at[0]: 'noon' is not a time of day",
        ),
        ('[policy.door]\nnight = "25:00-07:00"\n', "policy.door.night: '25:00' is not a time"),
        ('[policy.door]\nnight = "22:00-22:00"\n', "policy.door.night: '22:00-22:00' is empty"),
        ("[policy.fall]\nconfirm_s = 30\nmaybe_confirm_s = 10\n", "policy.fall: maybe_confirm_s"),
        ('[policy.activity]\nday = "20:00-06:00"\n', "policy.activity: day must not cross"),
        ('[policy.devices]\nurgent_offline_roles = ["toaster"]\n', "policy.devices.urgent_off"),
        ("[policy.temperature]\ncold_below_c = 40\n", "policy.temperature.cold_below_c: "),
        ('[[medication]]\nname = "heart"\ntimes = ["8am"]\n', "medication[0].times[0]: '8am'"),
        ('[[medication]]\nname = "heart"\n', "medication[0].times: required key is missing"),
        (
            '[[medication]]\nname = "a"\ntimes = ["08:00"]\n[[medication]]\nname = "a"\n'
            'times = ["09:00"]\n',
            "medication: medication name used more than once: a",
        ),
        (
            '[escalation.emergency]\nsteps = [{ contact = "Alice" }]\nrepeat = 3\n'
            "repeat_after_s = 0\n",
            "escalation.emergency.repeat_after_s: Input should be greater than or equal to 60",
        ),
        (
            '[escalation.urgent]\nsteps = [{ contact = "Alice" }]\nrepeat = 1000\n',
            "escalation.urgent.repeat: Input should be less than or equal to 10",
        ),
        (
            '[escalation.emergency]\nsteps = [{ contact = "Alice", after_s = 60 }]\n',
            "escalation: emergency.steps[0].after_s: the first emergency step must be immediate",
        ),
    ],
)
def test_a_bad_rule_setting_is_named_by_its_key(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(tmp_path, text)

    assert any(p.startswith(expected) for p in problems), problems


def test_rule_settings_reach_the_engine(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        MINIMAL + '[policy.door]\nnight = "21:30-06:30"\nreturn_s = 300\n'
        '[[medication]]\nname = "heart"\nlabel = "heart tablets"\ntimes = ["08:00", "20:00"]\n'
        '[escalation.emergency]\nsteps = [{ contact = "Alice" }]\nrepeat = 2\n'
        "repeat_after_s = 120\nack_timeout_s = 900\n",
        encoding="utf-8",
    )

    rules = load_config(path).rules()

    assert rules.policy.door.model_dump(mode="json")["night"] == "21:30-06:30"
    assert rules.policy.door.return_s == 300
    assert [m.label for m in rules.medication] == ["heart tablets"]
    plan = rules.plan_for("emergency")
    assert plan is not None
    assert (plan.repeat, plan.repeat_after_s, plan.ack_timeout_s) == (2, 120, 900)


def test_the_example_configuration_shows_every_rule_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELECARE_TWILIO__AUTH_TOKEN", "from-the-environment")  # as installed
    example = Path(__file__).parents[2] / "deploy" / "raspberrypi" / "hub.example.toml"

    rules = load_config(example).rules()

    assert [(m.name, m.device) for m in rules.medication] == [("heart", "pill-box")]
    assert rules.policy.water.debounce_s == 20
    assert rules.policy.activity.quiet_h == 5
    plan = rules.plan_for("emergency")
    assert plan is not None
    assert plan.repeat == 2
