"""`telecare config check` against Mosquitto's own window of messages in flight to the hub."""

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from hub.cli import main
from hub.config import mosquitto

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "deploy" / "raspberrypi" / "mosquitto" / "telecare.conf"
HUB = '[[contacts]]\nname = "Alice"\nphone = "+447700900123"\n'


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    """A CLI runner; the command sets up logging, which is put back afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield CliRunner()
    root.handlers[:], root.level = saved


def _etc(tmp_path: Path, *, included: dict[str, str], main_after: str = "") -> Path:
    """A Debian-like /etc/mosquitto: the main file includes conf.d, then `main_after`."""
    etc = tmp_path / "etc" / "mosquitto"
    (etc / "conf.d").mkdir(parents=True)
    for name, text in included.items():
        (etc / "conf.d" / name).write_text(text)
    main_conf = etc / "mosquitto.conf"
    main_conf.write_text(
        f"pid_file /run/mosquitto/mosquitto.pid\npersistence true\n"
        f"include_dir {etc / 'conf.d'}\n{main_after}"
    )
    return main_conf


def _check(runner: CliRunner, tmp_path: Path, broker: Path, hub: str = HUB) -> Result:
    path = tmp_path / "hub.toml"
    path.write_text(hub)
    return runner.invoke(main, ["config", "check", str(path), "--mosquitto-conf", str(broker)])


def _warnings(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [line for line in result.stdout.splitlines() if line.startswith("warning: ")]


def test_the_shipped_broker_configuration_agrees_with_the_hub(
    runner: CliRunner, tmp_path: Path
) -> None:
    broker = _etc(tmp_path, included={"telecare.conf": SHIPPED.read_text()})

    assert _warnings(_check(runner, tmp_path, broker)) == []


def test_a_broker_without_the_setting_keeps_to_its_default_of_20(
    runner: CliRunner, tmp_path: Path
) -> None:
    broker = _etc(tmp_path, included={"other.conf": "listener 1883\n"})

    [warning] = _warnings(_check(runner, tmp_path, broker))

    assert f"{tmp_path / 'hub.toml'}: [mqtt] broker_max_inflight is 1000 (the default)" in warning
    assert str(broker) in warning and str(broker.parent / "conf.d" / "other.conf") in warning
    assert "default of 20" in warning and "alarms stall" in warning


def test_a_smaller_window_names_both_numbers_and_files(runner: CliRunner, tmp_path: Path) -> None:
    broker = _etc(tmp_path, included={"telecare.conf": SHIPPED.read_text()})
    hub = HUB + "[mqtt]\nbroker_max_inflight = 1000\n"
    # Read after the include: Mosquitto's last setting wins.
    broker.write_text(broker.read_text() + "max_inflight_messages 100\n")

    [warning] = _warnings(_check(runner, tmp_path, broker, hub))

    assert warning.startswith(
        f"warning: {tmp_path / 'hub.toml'}: [mqtt] broker_max_inflight is 1000,"
    )
    assert f"{broker}:4 sets max_inflight_messages 100" in warning
    assert "stops delivering after 100" in warning and "alarms stall" in warning


def test_the_included_files_are_read_in_mosquitto_s_order(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Case-insensitive, capitals first: `a.conf`, `B.conf`, `b.conf`; only `*.conf` files."""
    included = {
        "b.conf": "max_inflight_messages 1000\n",
        "B.conf": "max_inflight_messages 50\n",
        "a.conf": "max_inflight_messages 10\n",
        "z.conf.bak": "max_inflight_messages 10\n",
    }
    broker = _etc(tmp_path, included=included)

    assert _warnings(_check(runner, tmp_path, broker)) == [], "b.conf is read last"
    (broker.parent / "conf.d" / "c.conf").write_text("  max_inflight_messages   65535 # none\n")
    [warning] = _warnings(_check(runner, tmp_path, broker))
    assert "c.conf:1 sets max_inflight_messages 0 (no limit)" in warning
    assert "set 1000 in both" in warning


def test_a_larger_window_than_the_hub_s_is_named_too(runner: CliRunner, tmp_path: Path) -> None:
    broker = _etc(tmp_path, included={"telecare.conf": "max_inflight_messages 2000\n"})

    [warning] = _warnings(_check(runner, tmp_path, broker))

    assert "sets max_inflight_messages 2000" in warning
    assert "[mqtt] broker_max_inflight = 2000" in warning


def test_include_dir_counts_only_in_the_main_file(runner: CliRunner, tmp_path: Path) -> None:
    nested = tmp_path / "nested"
    nested.mkdir()
    (nested / "x.conf").write_text("max_inflight_messages 1000\n")
    broker = _etc(tmp_path, included={"telecare.conf": f"include_dir {nested}\n"})

    [warning] = _warnings(_check(runner, tmp_path, broker))

    assert "default of 20" in warning


def test_nothing_is_said_without_a_broker_configuration(runner: CliRunner, tmp_path: Path) -> None:
    result = _check(runner, tmp_path, tmp_path / "absent" / "mosquitto.conf")

    assert _warnings(result) == []
    assert len(result.stdout.splitlines()) == 1


def test_without_the_option_the_main_file_is_debian_s(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = _etc(tmp_path, included={})
    monkeypatch.setattr(mosquitto, "MOSQUITTO_CONF", broker)  # /etc/mosquitto/mosquitto.conf
    path = tmp_path / "hub.toml"
    path.write_text(HUB)

    [warning] = _warnings(runner.invoke(main, ["config", "check", str(path)]))

    assert "default of 20" in warning
    helped = runner.invoke(main, ["config", "check", "--help"]).stdout
    assert "--mosquitto-conf" in helped and "/etc/mosquitto/mosquitto.conf" in helped
