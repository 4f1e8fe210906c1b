"""The configuration file: what loads, how every problem is named, and `telecare config check`."""

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.config.file import ConfigError, config_from_dict, load_config

MINIMAL = """\
[[contacts]]
name = "Alice"
"""

HOUSEHOLD = """\
[home]
person = "Mum"
timezone = "Europe/London"

[mqtt]
host = "broker.local"
port = 8883
tls = true
username = "hub"
password = "from-the-file"

[store]
path = "/var/lib/telecare/hub.db"

[[contacts]]
name = "Alice"
phone = "+447700900123"

[[contacts]]
name = "Bob"

[[devices]]
id = "pendant-1"
name = "pendant"
role = "pendant"
room = "bedroom"

[[devices]]
id = "fall-1"
name = "fall detector"
role = "fall_detector"
room = "living room"

[policy.fall]
confirm_s = 15

[escalation.emergency]
steps = [
    { contact = "Alice", after_s = 0 },
    { contact = "Bob", after_s = 60 },
]
"""

# Problems that are each independent of the others, so one file can show them all at once.
FIVE_PROBLEMS = """\
[home]
timezone = "Europe/Lundun"

[mqtt]
hots = "broker.local"
port = "eighteen-eighty-three"

[[contacts]]
name = "Alice"
phone = "07700 900123"

[[devices]]
id = "pendant-1"
name = "pendant"
role = "necklace"
"""

# These checks compare entries, so they run once the entries themselves are valid.
CROSS_CHECKS = """\
[[contacts]]
name = "Alice"

[[devices]]
id = "pendant-1"
name = "pendant"
role = "pendant"

[[devices]]
id = "pendant-1"
name = "spare pendant"
role = "pendant"

[escalation.emergency]
steps = [{ contact = "Alice" }, { contact = "Bob", after_s = 60 }]
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from the developer's shell must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("TELECARE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "hub.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)  # as the installer leaves it: secrets may live in the file
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    return caught.value.problems


def test_a_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL))

    assert [c.name for c in config.contacts] == ["Alice"]
    assert config.devices == ()
    assert config.mqtt.host == "127.0.0.1"
    assert config.mqtt.port == 1883
    assert config.mqtt.password is None
    assert config.home.timezone == "Europe/London"
    assert config.policy.fall.confirm_s == 20.0


def test_a_household_file_loads_and_binds_the_rules(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, HOUSEHOLD))

    assert (config.mqtt.host, config.mqtt.port, config.mqtt.tls) == ("broker.local", 8883, True)
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "from-the-file"
    assert "from-the-file" not in repr(config)
    assert config.store.path == Path("/var/lib/telecare/hub.db")
    rules = config.rules()
    assert rules.home.person == "Mum"
    assert rules.devices["fall-1"].room == "living room"
    assert rules.policy.fall.confirm_s == 15
    plan = rules.plan_for("emergency")
    assert plan is not None
    assert [(s.contact, s.after_s) for s in plan.steps] == [("Alice", 0), ("Bob", 60)]


def test_every_independent_problem_is_named_by_its_key_in_one_error(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, FIVE_PROBLEMS))

    keys = sorted(problem.split(": ", 1)[0] for problem in problems)
    assert keys == [
        "contacts[0].phone",
        "devices[0].role",
        "home.timezone",
        "mqtt.hots",
        "mqtt.port",
    ]
    by_key = dict(problem.split(": ", 1) for problem in problems)
    assert by_key["mqtt.hots"] == "unknown key"
    assert "valid integer" in by_key["mqtt.port"]
    assert "'eighteen-eighty-three'" in by_key["mqtt.port"]
    assert "'necklace'" in by_key["devices[0].role"]
    assert "'07700 900123' is not an international number" in by_key["contacts[0].phone"]
    assert "unknown time zone 'Europe/Lundun'" in by_key["home.timezone"]


def test_duplicate_devices_and_unknown_escalation_contacts_are_named_together(
    tmp_path: Path,
) -> None:
    problems = problems_of(write(tmp_path, CROSS_CHECKS))

    assert sorted(problems) == [
        "devices: device id used more than once: pendant-1",
        "escalation: emergency.steps[1].contact: 'Bob' is not a contact",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[home]\nperson = "Mum"\n', "contacts: required key is missing"),
        ("contacts = []\n", "contacts: at least one contact is needed"),
        (
            '[[contacts]]\nname = "Alice"\n\n[[contacts]]\nname = "Alice"\n',
            "contacts: contact name used more than once: Alice",
        ),
        (MINIMAL + "\n[policy.water]\ndebounce_s = -1\n", "policy.water.debounce_s: "),
        (MINIMAL + '\n[escalation.critical]\nsteps = [{ contact = "Alice" }]\n', "escalation."),
        (
            MINIMAL + '\n[[devices]]\nid = "door-2"\nname = "back door"\nrole = "door"\n'
            'source = "zigbee2mqtt"\n',
            "devices[0]: a zigbee2mqtt device needs its friendly_name",
        ),
        ("logging = true\n" + MINIMAL, "logging: unknown key"),
    ],
    ids=[
        "missing contacts",
        "no contacts",
        "repeated contact",
        "negative debounce",
        "unknown severity",
        "zigbee without name",
        "unknown top-level key",
    ],
)
def test_a_single_problem_is_named(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_a_toml_syntax_error_is_one_clear_problem(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt\nhost = "broker.local"\n')

    problems = problems_of(path)

    assert len(problems) == 1
    assert problems[0].startswith("not valid TOML: ")
    assert "line 1" in problems[0]


def test_a_missing_file_is_a_clear_problem(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nowhere.toml")

    assert problems == ["no such file (give the path of the hub's TOML file)"]


def test_the_error_message_names_the_file_and_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, FIVE_PROBLEMS)

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert all(problem in message for problem in caught.value.problems)


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELECARE_MQTT__PASSWORD", "from-the-environment")
    monkeypatch.setenv("TELECARE_MQTT__PORT", "1884")

    config = load_config(write(tmp_path, HOUSEHOLD))

    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "from-the-environment"
    assert config.mqtt.port == 1884
    # The rest of the table still comes from the file.
    assert config.mqtt.host == "broker.local"
    assert config.mqtt.username == "hub"


def test_a_bad_environment_value_is_named_by_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELECARE_MQTT__PORT", "not-a-port")

    problems = problems_of(write(tmp_path, MINIMAL))

    assert [p.split(": ", 1)[0] for p in problems] == ["mqtt.port"]


def test_the_cli_config_variable_is_not_mistaken_for_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELECARE_CONFIG", str(tmp_path / "hub.toml"))

    assert load_config(write(tmp_path, MINIMAL)).contacts[0].name == "Alice"


def test_config_from_dict_names_problems_like_the_file() -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"contacts": [{"name": "Alice"}], "mqtt": {"hots": "x", "port": 0}})

    assert caught.value.source == "configuration"
    assert sorted(p.split(": ", 1)[0] for p in caught.value.problems) == ["mqtt.hots", "mqtt.port"]


def test_config_from_dict_accepts_a_valid_mapping() -> None:
    config = config_from_dict({"contacts": [{"name": "Alice"}], "home": {"person": "Dad"}})

    assert config.rules().home.person == "Dad"


# --- telecare config check -----------------------------------------------------------------


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    """A CLI runner; the command sets up logging, which is put back afterwards."""
    root = logging.getLogger()
    telecare = logging.getLogger("telecare")
    saved = (root.handlers[:], root.level, telecare.level)
    yield CliRunner()
    root.handlers[:], root.level = saved[0], saved[1]
    telecare.setLevel(saved[2])


def test_check_accepts_a_valid_file(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, HOUSEHOLD)

    result = runner.invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{path}: OK (2 contact(s), 2 device(s), store /var/lib/telecare/hub.db)\n"
    )
    assert result.stderr == ""


def test_check_rejects_an_invalid_file_naming_every_key(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, FIVE_PROBLEMS)

    result = runner.invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"telecare: configuration problem in {path}:"
    for key in ("mqtt.hots", "mqtt.port", "devices[0].role", "contacts[0].phone", "home.timezone"):
        assert any(line.startswith(f"  {key}: ") for line in lines[1:]), key
    assert len(lines) == 6
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_check_rejects_a_missing_file(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"

    result = runner.invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"telecare: configuration problem in {path}:\n"
        "  no such file (give the path of the hub's TOML file)\n"
    )
    assert "Traceback" not in result.output


def test_check_rejects_bad_toml_in_one_line(runner: CliRunner, tmp_path: Path) -> None:
    path = write(tmp_path, 'contacts = [{ name = "Alice" }\n')

    result = runner.invoke(main, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert result.stderr.splitlines()[1].startswith("  not valid TOML: ")
    assert len(result.stderr.splitlines()) == 2


@pytest.mark.parametrize("reserved", ["hub", "pairing"])
def test_a_device_id_the_wire_reserves_is_refused(tmp_path: Path, reserved: str) -> None:
    text = MINIMAL + f'\n[[devices]]\nid = "{reserved}"\nname = "pendant"\nrole = "pendant"\n'

    problems = problems_of(write(tmp_path, text))

    assert [p.split(": ", 1)[0] for p in problems] == ["devices[0].id"]
