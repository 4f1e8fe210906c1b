"""Building the notifier from the configuration."""

from pathlib import Path

import pytest

from hub.config.file import ConfigError, config_from_dict
from hub.service.notify import budgets_for, unreachable_steps


def test_steps_that_cannot_be_carried_out_are_named(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "store": {"path": str(tmp_path / "hub.db")},
            "contacts": [
                {"name": "Alice", "phone": "+447700900123"},
                {"name": "Ben"},
            ],
            "ntfy": {"server": "http://127.0.0.1:9"},
            "escalation": {
                "emergency": {
                    "steps": [
                        {"contact": "Alice", "channel": "ntfy", "after_s": 0},
                        {"contact": "Ben", "channel": "sms", "after_s": 60},
                        {"contact": "Alice", "channel": "outbox", "after_s": 120},
                    ]
                }
            },
        }
    )

    assert unreachable_steps(config, {"outbox", "ntfy"}) == [
        "escalation.emergency.steps[0]: ntfy for Alice has no address; the alert will fail over",
        "escalation.emergency.steps[1]: sms for Ben is not configured; the alert will fail over",
    ]


def test_sms_and_whatsapp_share_a_budget_and_calls_have_their_own(tmp_path: Path) -> None:
    config = config_from_dict(
        {
            "store": {"path": str(tmp_path / "hub.db")},
            "contacts": [{"name": "Alice"}],
            "twilio": {
                "account_sid": "AC" + "0" * 32,
                "auth_token": "t",
                "from_number": "+447700900999",
                "sms_per_hour": 3,
                "calls_per_day": 5,
            },
        }
    )
    assert config.twilio is not None

    messages, calls = budgets_for(config.twilio)

    assert (messages.channels, messages.per_hour, messages.per_day) == (("sms", "whatsapp"), 3, 40)
    assert (calls.channels, calls.per_hour, calls.per_day) == (("voice",), 4, 5)


def test_bad_channel_settings_are_named_by_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(
            {
                "store": {"path": str(tmp_path / "hub.db")},
                "contacts": [{"name": "Alice", "ntfy_topic": "has spaces"}],
                "twilio": {"account_sid": "nope", "auth_token": "t", "from_number": "07700"},
                "ntfy": {"server": "ntfy.sh", "ack_topic": "short"},
            }
        )

    keys = sorted(problem.split(":")[0] for problem in caught.value.problems)
    assert keys == [
        "contacts[0].ntfy_topic",
        "ntfy.ack_topic",
        "ntfy.server",
        "twilio.account_sid",
        "twilio.from_number",
    ]
