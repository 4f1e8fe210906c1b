"""Carer settings from the dashboard: a device silenced for a while, and digest times."""

from datetime import UTC, datetime, time

import pytest

from hub.store.store import NewDevice
from rules.engine import Engine
from rules.policy import Contact
from tests.support.web import (
    CARER_PASSCODE,
    INSTALLER_PASSCODE,
    Hub,
    form_csrf,
    log_in,
    login_link,
    use_login_link,
)
from wire.schema import InboundMessage, event_topic

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


@pytest.fixture
async def leak(hub: Hub) -> Hub:
    """The hub with a flood sensor paired too."""
    sensor = NewDevice("leak-1", "flood sensor", "water", "Kitchen", "native", None, None, "paired")
    await hub.store.register_devices([sensor], at=NOW)
    await hub.pipeline.reload_devices()
    return hub


async def test_silence_is_refused_without_login_csrf_or_the_carer_role(leak: Hub) -> None:
    path, body = "/api/devices/leak-1/silence", {"length": "1h"}
    assert (await leak.client.post(path, json=body)).status_code == 401
    assert (await leak.client.delete(path)).status_code == 401
    assert (await leak.client.get("/api/silences")).status_code == 401
    installer = await log_in(leak.client, INSTALLER_PASSCODE)
    wrong_role = await leak.client.post(path, json=body, headers={"X-CSRF-Token": installer})
    assert wrong_role.status_code == 403
    leak.client.cookies.clear()
    await log_in(leak.client, CARER_PASSCODE)
    assert (await leak.client.post(path, json=body)).status_code == 403
    assert (await leak.client.delete(path)).status_code == 403
    assert leak.pipeline.state.silenced == {}


async def test_carer_silences_a_flood_sensor_for_an_hour_and_its_leak_is_only_recorded(
    leak: Hub,
) -> None:
    headers = {"X-CSRF-Token": await log_in(leak.client, CARER_PASSCODE)}
    done = await leak.client.post(
        "/api/devices/leak-1/silence", json={"length": "1h"}, headers=headers
    )
    assert done.status_code == 200, done.text
    silence = {"device_id": "leak-1", "until": "2026-11-23T11:42:00Z", "by": "Alice"}
    assert done.json() == silence
    assert (await leak.client.get("/api/silences")).json() == [silence]
    (device,) = [d for d in (await leak.client.get("/api/devices")).json() if d["id"] == "leak-1"]
    assert (device["can_silence"], device["silence"]) == (True, silence)
    (change,) = await leak.store.settings_log()
    assert (change.setting, change.subject, change.value, change.by) == (
        "silence",
        "leak-1",
        "until Mon 11:42",
        "Alice",
    )
    memory = await leak.store.engine_memory()
    assert memory is not None
    assert memory.silenced["leak-1"].by == "Alice"

    body = b'{"type": "water.leak"}'
    await leak.pipeline.handle([InboundMessage(event_topic("leak-1"), body, 1, 9)])
    (incident,) = await leak.store.incidents()
    assert incident.state == "suppressed"
    assert await leak.store.notifications() == []

    lifted = await leak.client.delete("/api/devices/leak-1/silence", headers=headers)
    assert lifted.status_code == 204
    assert (await leak.client.get("/api/silences")).json() == []


async def test_an_emergency_device_cannot_be_silenced_and_says_why(leak: Hub) -> None:
    headers = {"X-CSRF-Token": await log_in(leak.client, CARER_PASSCODE)}
    refused = await leak.client.post(
        "/api/devices/pendant-1/silence", json={"length": "4h"}, headers=headers
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == ("the pendant is a pendant: emergencies are never silenced")
    unknown = await leak.client.post(
        "/api/devices/nobody/silence", json={"length": "4h"}, headers=headers
    )
    assert unknown.status_code == 404
    bad = await leak.client.post(
        "/api/devices/leak-1/silence", json={"length": "forever"}, headers=headers
    )
    assert bad.status_code == 422
    assert await leak.store.settings_log() == []


async def test_silence_until_tomorrow_morning_from_the_devices_page(leak: Hub) -> None:
    await log_in(leak.client, CARER_PASSCODE)
    page = await leak.client.get("/devices")
    assert '<label for="silence-leak-1">Silence the flood sensor</label>' in page.text
    assert "silence-pendant-1" not in page.text
    form = {"csrf": form_csrf(page.text), "length": "morning"}
    done = await leak.client.post("/devices/leak-1/silence", data=form)
    assert done.status_code == 303
    after = await leak.client.get("/devices")
    assert "Silenced</strong> by Alice until\n    Tue 24 Nov 08:00" in after.text
    lift = {"csrf": form_csrf(after.text), "length": "off"}
    assert (await leak.client.post("/devices/leak-1/silence", data=lift)).status_code == 303
    assert leak.pipeline.state.silenced == {}
    settings = await leak.client.get("/settings")
    assert "Alice: silence of leak-1\n    lifted" in settings.text


async def test_carer_changes_digest_times_and_bad_times_get_a_clear_error(hub: Hub) -> None:
    assert (await hub.client.get("/api/digests")).status_code == 401
    headers = {"X-CSRF-Token": await log_in(hub.client, CARER_PASSCODE)}
    assert (await hub.client.put("/api/digests/Alice", json={"times": []})).status_code == 403
    assert (await hub.client.get("/api/digests")).json() == [
        {"contact": "Alice", "times": [], "chosen": False}
    ]

    chosen = await hub.client.put(
        "/api/digests/Alice", json={"times": ["18:00", "07:30"]}, headers=headers
    )
    assert chosen.json() == {"contact": "Alice", "times": ["07:30", "18:00"], "chosen": True}
    assert hub.pipeline.engine.digest_times(hub.pipeline.state, "Alice") == (
        time(7, 30),
        time(18, 0),
    )
    bad = await hub.client.put("/api/digests/Alice", json={"times": ["25:00"]}, headers=headers)
    assert bad.status_code == 422
    assert "'25:00' is not a time of day" in bad.text
    twice = await hub.client.put(
        "/api/digests/Alice", json={"times": ["09:00", "09:00"]}, headers=headers
    )
    assert (twice.status_code, twice.json()["detail"]) == (
        422,
        "the same digest time is given twice",
    )
    nobody = await hub.client.put("/api/digests/Carol", json={"times": []}, headers=headers)
    assert nobody.status_code == 404
    back = await hub.client.put("/api/digests/Alice", json={"times": None}, headers=headers)
    assert back.json() == {"contact": "Alice", "times": [], "chosen": False}


async def test_digest_times_on_the_settings_page(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get("/settings")
    assert '<label for="digest-1">Digest times for Alice' in page.text
    csrf = form_csrf(page.text)
    wrong = await hub.client.post(
        "/settings/digest", data={"csrf": csrf, "contact": "Alice", "times": "12:30, noon"}
    )
    assert wrong.status_code == 422
    assert "Digest times for Alice: &#39;noon&#39; is not a time of day" in wrong.text
    done = await hub.client.post(
        "/settings/digest", data={"csrf": csrf, "contact": "Alice", "times": "12:30 18:00"}
    )
    assert done.status_code == 303
    after = await hub.client.get("/settings")
    assert "12:30, 18:00\n    (chosen here)" in after.text
    assert "Alice: digest times of Alice\n    12:30, 18:00" in after.text


@pytest.fixture
def family(hub: Hub) -> Hub:
    """The hub with Ben as a second contact beside Alice."""
    config = hub.pipeline.engine.config
    contacts = (*config.contacts, Contact(name="Ben"))
    hub.pipeline.engine = Engine(config.model_copy(update={"contacts": contacts}))
    return hub


async def test_a_contact_logged_in_by_their_link_changes_only_their_own_digest_times(
    family: Hub,
) -> None:
    assert (await use_login_link(family, await login_link(family, "Ben")))[0] == 303
    headers = {"X-CSRF-Token": (await family.client.get("/api/session")).json()["csrf_token"]}
    others = await family.client.put(
        "/api/digests/Alice", json={"times": ["12:30"]}, headers=headers
    )
    assert others.status_code == 403
    assert others.json()["detail"] == (
        "logged in as Ben by a login link: only Ben's own digest times may be changed"
    )
    own = await family.client.put("/api/digests/Ben", json={"times": ["19:00"]}, headers=headers)
    assert own.json() == {"contact": "Ben", "times": ["19:00"], "chosen": True}
    assert set(family.pipeline.state.digest_at) == {"Ben"}

    page = await family.client.get("/settings")
    assert '<label for="digest-2">Digest times for Ben' in page.text
    assert "Digest times for Alice (HH:MM" not in page.text  # no form for someone else's
    form = {"csrf": form_csrf(page.text), "contact": "Alice", "times": "12:30"}
    refused = await family.client.post("/settings/digest", data=form)
    assert refused.status_code == 403
    assert "Digest times for Alice: logged in as Ben by a login link" in refused.text
    assert set(family.pipeline.state.digest_at) == {"Ben"}
    assert [(c.subject, c.by) for c in await family.store.settings_log()] == [("Ben", "Ben")]


@pytest.mark.parametrize(
    ("passcode", "name"), [(CARER_PASSCODE, "Alice"), (INSTALLER_PASSCODE, "Ian")]
)
async def test_a_passcode_login_carer_or_installer_changes_anyones_digest_times(
    family: Hub, passcode: str, name: str
) -> None:
    headers = {"X-CSRF-Token": await log_in(family.client, passcode)}
    for contact, times in [("Ben", ["07:30"]), ("Alice", ["18:00"])]:
        done = await family.client.put(
            f"/api/digests/{contact}", json={"times": times}, headers=headers
        )
        assert done.status_code == 200, done.text
    page = await family.client.get("/settings")
    assert "Digest times for Alice (HH:MM" in page.text
    assert "Digest times for Ben (HH:MM" in page.text
    changes = [(c.subject, c.by) for c in await family.store.settings_log()]
    assert sorted(changes) == [("Alice", name), ("Ben", name)]
