"""The `[web]` section: safe defaults, and passcodes only as argon2 hashes."""

import subprocess
import sys
from pathlib import Path

import pytest

from hub.config.file import ConfigError, config_from_dict, load_config
from tests.support.web import logins

EXAMPLE = Path(__file__).parents[3] / "deploy" / "raspberrypi" / "hub.example.toml"
CONTACTS = [{"name": "Alice"}]


def test_dashboard_binds_to_loopback_by_default_with_nobody_able_to_log_in() -> None:
    web = config_from_dict({"contacts": CONTACTS}).web
    assert (web.enabled, web.host, web.port, web.logins) == (True, "127.0.0.1", 8080, ())
    assert web.secure_cookies is False


def test_a_passcode_written_in_clear_is_refused_by_its_key() -> None:
    data = {"contacts": CONTACTS, "web": {"logins": [{"name": "Alice", "passcode_hash": "1234"}]}}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)
    assert caught.value.problems == [
        "web.logins[0].passcode_hash: not an argon2id hash: make one with"
        " `telecare web hash-passcode`"
    ]
    assert "1234" not in str(caught.value)


def test_login_names_must_be_unique_and_roles_known() -> None:
    twice = [*logins(), {**logins()[0], "role": "warden"}]
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"contacts": CONTACTS, "web": {"logins": twice}})
    assert any(p.startswith("web.logins[2].role:") for p in caught.value.problems)
    again = [*logins(), logins()[0]]
    with pytest.raises(ConfigError, match="login name used more than once: Alice"):
        config_from_dict({"contacts": CONTACTS, "web": {"logins": again}})


def test_example_configuration_documents_the_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECARE_TWILIO__AUTH_TOKEN", "from-the-environment")  # as installed
    web = load_config(EXAMPLE).web
    assert (web.enabled, web.host, web.port, web.session_hours) == (True, "127.0.0.1", 8080, 12)
    assert web.logins == ()  # an installer copying the example opens no known passcode
    assert "telecare web hash-passcode" in EXAMPLE.read_text()


def test_https_needs_both_certificate_and_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("certificate\n")
    with pytest.raises(ConfigError, match="certfile and keyfile go together"):
        config_from_dict({"contacts": CONTACTS, "web": {"certfile": str(cert)}})
    with pytest.raises(ConfigError) as caught:
        config_from_dict(
            {"contacts": CONTACTS, "web": {"certfile": str(cert), "keyfile": "/nowhere.pem"}}
        )
    assert caught.value.problems[0].startswith("web.keyfile:")
    both = config_from_dict(
        {"contacts": CONTACTS, "web": {"certfile": str(cert), "keyfile": str(cert)}}
    ).web
    assert both.cookies_secure


def test_the_web_stack_is_loaded_only_when_the_dashboard_is_on() -> None:
    check = "import sys, hub.service.app; print(sorted({'fastapi', 'uvicorn'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
