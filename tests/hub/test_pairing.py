"""`telecare pair` end to end: the real CLI, a real Mosquitto, a Zigbee2MQTT stand-in, a hub."""

import asyncio
import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.errors import StoreError
from hub.store.records import UnpairedSighting
from hub.store.store import Batch, NewDevice, Store
from tests.support.hubs import config_data, device_client, eventually, running_hub, write_toml
from tests.support.zigbee2mqtt_standin import TS0215A_SOS_DEFINITION, Zigbee2MqttStandIn
from wire.schema import PAIRING_TOPIC, event_topic

SOS_JOINING = ("mum/hall/sos", "0x847127fffe0542eb", TS0215A_SOS_DEFINITION)


async def start_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def device_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        async with Store.open(db, readonly=True) as store:
            return {d.id for d in await store.devices()}
    except StoreError:  # the command is creating the database at this moment
        return set()


async def stored_from(db: Path, device_id: str) -> list[str]:
    async with Store.open(db, readonly=True) as store:
        return [e.event.type for e in await store.events() if e.event.device_id == device_id]


async def test_zigbee_pendant_is_paired_proved_and_heard_by_the_running_hub(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    config = config_from_dict(data)
    db = config.store.path
    async with (
        running_hub(config) as rejects,
        Zigbee2MqttStandIn(broker, joining=SOS_JOINING) as z2m,
    ):
        cli = await start_cli(
            "pair", "--config", str(path), "--role", "pendant", "--name", "Hall pendant",
            "--room", "Hall", "--timeout", "30", "--verify-timeout", "30",
        )  # fmt: skip

        async def registered() -> bool:
            return "pendant-0542eb" in await device_ids(db)

        await eventually(registered)
        press = {"action": "emergency", "battery": None, "linkquality": 142}
        await z2m.publish_state("mum/hall/sos", press)
        await z2m.publish_state("mum/hall/sos", {"action": "", "battery": None, "linkquality": 142})
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
        text = output.decode()
        assert cli.returncode == 0, text
        assert "received pendant.pressed from Hall pendant, signal 142/255" in text

        await z2m.publish_state("mum/hall/sos", press)

        async def hub_stored_the_press() -> bool:
            return "pendant.pressed" in await stored_from(db, "pendant-0542eb")

        await eventually(hub_stored_the_press)
    assert [r["time"] for r in z2m.requests] == [30, 0], "the window is opened, then closed"
    transactions = [r["transaction"] for r in z2m.requests]
    assert all(transactions) and len(set(transactions)) == 2
    async with Store.open(db, readonly=True) as store:
        device = {d.id: d for d in await store.devices()}["pendant-0542eb"]
    assert (device.origin, device.source, device.friendly_name, device.model, device.room) == (
        "paired", "zigbee2mqtt", "mum/hall/sos", "TS0215A_sos", "Hall",
    )  # fmt: skip
    assert rejects.counts["role_mismatch"] == 0


async def test_window_closes_when_nothing_joins(broker: LocalBroker, tmp_path: Path) -> None:
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    async with Zigbee2MqttStandIn(broker, joining=None) as z2m:
        cli = await start_cli("pair", "--config", str(path), "--role", "door", "--timeout", "1")
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 1
    assert "no device joined within 1 s" in output.decode()
    assert [r["time"] for r in z2m.requests] == [1, 0]
    assert "door" not in " ".join(await device_ids(config_from_dict(data).store.path))


async def test_deeply_nested_json_from_the_bridge_does_not_stop_pairing(
    broker: LocalBroker, tmp_path: Path
) -> None:
    """A bridge (or anyone on the broker) sending "[[[[..." is ignored, as the hub's intake does."""
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    deep = b"[" * 100_000
    async with device_client(broker, "garbage") as garbage:
        # Retained, so the pairing command reads them first, whenever it subscribes.
        for sub in ("bridge/info", "bridge/event", "bridge/response/permit_join"):
            await garbage.publish(f"zigbee2mqtt/{sub}", deep, qos=1, retain=True)
    async with Zigbee2MqttStandIn(broker, joining=SOS_JOINING):
        cli = await start_cli(
            "pair", "--config", str(path), "--role", "pendant", "--timeout", "30",
            "--verify-timeout", "1",
        )  # fmt: skip
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
    text = output.decode()
    assert "RecursionError" not in text
    assert "pendant-0542eb" in await device_ids(config_from_dict(data).store.path), text


async def test_ctrl_c_closes_the_window_and_registers_nothing(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    async with Zigbee2MqttStandIn(broker, joining=None) as z2m:
        cli = await start_cli("pair", "--config", str(path), "--role", "water", "--timeout", "60")
        assert cli.stdout is not None
        line = b""
        while b"Pairing window open for 60 s" not in line:
            line = await asyncio.wait_for(cli.stdout.readline(), 30)
            assert line, "the command ended before opening the window"
        cli.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(cli.communicate(), 30)

        async def closed() -> bool:
            return [r["time"] for r in z2m.requests] == [60, 0]

        await eventually(closed)
    assert cli.returncode == 130, output.decode()
    assert await device_ids(config_from_dict(data).store.path) == set()


async def test_native_device_pairs_from_its_announcement(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    db = config_from_dict(data).store.path
    cli = await start_cli(
        "pair", "--config", str(path), "--source", "native", "--role", "door",
        "--name", "Back door", "--room", "Kitchen", "--timeout", "30", "--verify-timeout", "30",
    )  # fmt: skip
    announce = {"device_id": "door-7", "type": "door", "model": "TC-D1", "fw": "1.4.2"}
    async with device_client(broker, "door-7") as device:

        async def announced_and_registered() -> bool:
            await device.publish(PAIRING_TOPIC, json.dumps(announce), qos=1)
            return "door-7" in await device_ids(db)

        await eventually(announced_and_registered)
        await device.publish(event_topic("door-7"), b'{"type": "door.opened", "seq": 1}', qos=1)
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, output.decode()
    assert "received door.opened from Back door" in output.decode()


async def test_a_1x_bridge_is_asked_in_its_own_form(broker: LocalBroker, tmp_path: Path) -> None:
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    async with Zigbee2MqttStandIn(broker, joining=SOS_JOINING, version="1.42.0") as z2m:
        cli = await start_cli(
            "pair", "--config", str(path), "--role", "pendant", "--timeout", "30",
            "--verify-timeout", "0",
        )  # fmt: skip
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, output.decode()
    forms = [(r.get("value"), r["time"]) for r in z2m.requests]
    assert forms == [(None, 30), (True, 30), (False, 0)]
    assert "pendant-0542eb" in await device_ids(config_from_dict(data).store.path)


async def test_a_device_heard_but_unpaired_is_adopted(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    # Needs Mosquitto: the embedded broker replays retained messages it was not asked for, and
    # the bridge's device list then lists the adopted device as heard again.
    broker = mosquitto
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    config = config_from_dict(data)
    db = config.store.path
    stranger = "0x00158d000405cfee"
    async with running_hub(config), Zigbee2MqttStandIn(broker) as z2m:
        z2m.listed.append({"friendly_name": stranger, "definition": {"model": "SJCGQ11LM"}})
        await z2m.publish_devices()
        await z2m.publish_state(stranger, {"water_leak": False, "linkquality": 83})

        async def heard() -> bool:
            async with Store.open(db, readonly=True) as store:
                return [u.address for u in await store.unpaired_devices()] == [stranger]

        await eventually(heard)
        unknown = await start_cli(
            "pair", "--config", str(path), "--role", "water", "--adopt", "0xdead"
        )
        assert await asyncio.wait_for(unknown.wait(), 60) == 1
        cli = await start_cli(
            "pair", "--config", str(path), "--role", "water", "--name", "Kitchen leak",
            "--adopt", stranger, "--verify-timeout", "30",
        )  # fmt: skip

        async def adopted() -> bool:
            return "water-0x00158d000405cfee" in await device_ids(db)

        await eventually(adopted)
        await z2m.publish_state(stranger, {"water_leak": True, "linkquality": 90})
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
        assert cli.returncode == 0, output.decode()
        assert "received water.leak from Kitchen leak, signal 90/255" in output.decode()
        # The hub may have had the first leak before it reloaded; either way it hears this one.
        await z2m.publish_state(stranger, {"water_leak": False, "linkquality": 90})
        await z2m.publish_state(stranger, {"water_leak": True, "linkquality": 90})

        async def hub_heard_it() -> bool:
            return "water.leak" in await stored_from(db, "water-0x00158d000405cfee")

        await eventually(hub_heard_it)
    async with Store.open(db, readonly=True) as store:
        assert await store.unpaired_devices() == []
        device = {d.id: d for d in await store.devices()}["water-0x00158d000405cfee"]
    assert (device.friendly_name, device.model, device.origin) == (stranger, "SJCGQ11LM", "paired")


async def test_native_pairing_gives_the_device_its_own_broker_login(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    path = write_toml(tmp_path / "hub.toml", data)
    db = config_from_dict(data).store.path
    logins = tmp_path / "telecare.passwd"
    logins.write_text("")
    cli = await start_cli(
        "pair", "--config", str(path), "--source", "native", "--role", "pendant",
        "--timeout", "30", "--verify-timeout", "0", "--password-file", str(logins),
    )  # fmt: skip
    announce = {"device_id": "pendant-9", "type": "pendant", "model": "TC-P1"}
    async with device_client(broker, "pendant-9") as device:

        async def registered() -> bool:
            await device.publish(PAIRING_TOPIC, json.dumps(announce), qos=1)
            return "pendant-9" in await device_ids(db)

        await eventually(registered)
        output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, output.decode()
    assert logins.read_text().startswith("pendant-9:$7$"), "a hashed password, never the secret"
    secret = output.decode().split("password ")[1].split()[0]
    assert secret not in logins.read_text()

    removed = await start_cli(
        "devices", "--config", str(path), "remove", "pendant-9", "--password-file", str(logins)
    )
    out, _ = await asyncio.wait_for(removed.communicate(), 60)
    assert removed.returncode == 0, out.decode()
    assert "pendant-9" not in logins.read_text()


async def test_a_sighting_written_after_its_device_was_adopted_lists_no_stranger(
    tmp_path: Path,
) -> None:
    """The hub may hear a device in the moment before it reloads the adoption (the leak the
    installer sets off to verify it): that sighting must not list the device as a stranger."""
    at = datetime.now(UTC)
    address = "0x00158d000405cfee"
    heard = UnpairedSighting(source="zigbee2mqtt", address=address, model="SJCGQ11LM", at=at)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.commit(Batch(unpaired=[heard]), at=at)
        adopted = NewDevice(
            f"water-{address}", "Kitchen leak", "water", "Kitchen", "zigbee2mqtt", address,
            "SJCGQ11LM", "paired",
        )  # fmt: skip
        await store.register_devices([adopted], at=at)
        await store.commit(Batch(unpaired=[heard]), at=at)  # heard before the hub reloaded
        stranger = UnpairedSighting(source="zigbee2mqtt", address="0xbeef", model=None, at=at)
        await store.commit(Batch(unpaired=[stranger]), at=at)
        listed = [u.address for u in await store.unpaired_devices()]
    assert listed == ["0xbeef"]
