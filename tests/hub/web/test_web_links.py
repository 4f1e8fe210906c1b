"""Per-contact one-time login links: `telecare web link`, then one tap on a phone."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.store.store import Store
from tests.support.hubs import telecare, write_toml
from tests.support.web import Hub, login_link, use_login_link

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


async def _unused(hub: Hub) -> bool:
    link = await hub.store.login_link(1)
    assert link is not None
    return link.used_at is None


async def test_a_link_logs_its_contact_in_once_as_a_carer_who_acknowledges_by_name(
    hub: Hub,
) -> None:
    path = await login_link(hub)
    assert path.startswith("/login/link/1.")
    stored = await hub.store.login_link(1)
    assert stored is not None
    assert stored.secret_hash.startswith("$argon2id$")
    assert path.rsplit(".", 1)[1] not in stored.secret_hash

    page = await hub.client.get(path)
    assert page.status_code == 200
    assert ">Log in</button>" in page.text
    assert (await hub.client.get("/api/session")).status_code == 401  # opening spends nothing
    assert await _unused(hub)

    code, _ = await use_login_link(hub, path)

    assert code == 303
    session = (await hub.client.get("/api/session")).json()
    assert (session["name"], session["role"]) == ("Alice", "carer")
    incident = await hub.press()
    acked = await hub.client.post(
        f"/api/incidents/{incident}/ack", headers={"X-CSRF-Token": session["csrf_token"]}
    )
    assert acked.json()["state"] == "acknowledged"
    assert hub.pipeline.state.open["help_call"].acknowledged_by == "Alice"

    hub.client.cookies.clear()
    again, text = await use_login_link(hub, path)
    assert again == 401
    assert "expired or was used already" in text
    assert (await hub.client.get("/api/session")).status_code == 401


@pytest.mark.parametrize("case", ["expired", "wrong secret", "not a token", "no longer a contact"])
async def test_a_link_that_cannot_log_in_gets_the_same_answer(hub: Hub, case: str) -> None:
    made_at = NOW - timedelta(hours=25) if case == "expired" else NOW
    path = await login_link(
        hub, "Carol" if case == "no longer a contact" else "Alice", made_at=made_at
    )
    if case == "wrong secret":
        path = path[:-4] + "AAAA"
    if case == "not a token":
        path = "/login/link/nonsense"
    code, text = await use_login_link(hub, path)
    assert code == 401
    assert "expired or was used already" in text
    assert (await hub.client.get("/api/session")).status_code == 401


async def test_link_tries_are_limited_and_need_the_pages_csrf_token(hub: Hub) -> None:
    path = await login_link(hub)
    token = path.rsplit("/", 1)[1]
    no_csrf = await hub.client.post("/login/link", data={"token": token, "csrf": "x"})
    assert no_csrf.status_code == 403
    for _ in range(5):
        assert (await use_login_link(hub, path[:-4] + "AAAA"))[0] == 401
    code, text = await use_login_link(hub, path)  # the right link, but too late
    assert code == 429
    assert "Too many tries" in text
    assert await _unused(hub)


def test_telecare_web_link_prints_a_url_with_the_configured_base(tmp_path: Path) -> None:
    data = {
        "contacts": [{"name": "Alice"}],
        "devices": [],
        "store": {"path": str(tmp_path / "hub.db")},
        "web": {"base_url": "https://mums-hub.example.org"},
    }
    config = write_toml(tmp_path / "hub.toml", data)

    made = telecare("web", "link", "--contact", "Alice", "--expires", "2d", "--config", str(config))

    assert made.returncode == 0, made.stderr
    url = made.stdout.strip()
    assert url.startswith("https://mums-hub.example.org/login/link/1.")
    assert "Alice" not in url

    async def stored() -> tuple[str, timedelta]:
        async with Store.open(tmp_path / "hub.db", readonly=True) as store:
            link = await store.login_link(1)
        assert link is not None
        return link.contact, link.expires_at - link.created_at

    assert asyncio.run(stored()) == ("Alice", timedelta(days=2))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--contact", "Carol"), "no contact 'Carol'"),
        (("--contact", "Alice", "--expires", "8d"), "within 7 days"),
        (("--contact", "Alice", "--expires", "soon"), "such as 7d or 24h"),
    ],
)
def test_telecare_web_link_refuses_what_it_cannot_make(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    data = {
        "contacts": [{"name": "Alice"}],
        "devices": [],
        "store": {"path": str(tmp_path / "hub.db")},
    }
    config = write_toml(tmp_path / "hub.toml", data)
    made = telecare("web", "link", *args, "--config", str(config))
    assert made.returncode == 2
    assert message in made.stderr
    assert made.stdout == ""
