from __future__ import annotations

import pytest

from api.settings import Settings, SettingsError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.database.url == "postgresql://postgres@127.0.0.1:5432/callcase"
    assert s.redis.url == "redis://127.0.0.1:6379/0"
    assert s.http.port == 8080


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({
            "CALLCASE_HTTP_PORT": "eighty",
            "CALLCASE_DATABASE_URL": "mysql://x@y/z",
            "CALLCASE_LOG_LEVEL": "LOUD",
        })
    problems = " ".join(caught.value.problems)
    assert len(caught.value.problems) == 3
    assert "CALLCASE_HTTP_PORT" in problems
    assert "CALLCASE_DATABASE_URL" in problems
    assert "CALLCASE_LOG_LEVEL" in problems


def test_port_out_of_range() -> None:
    with pytest.raises(SettingsError, match="between 1 and 65535"):
        Settings.from_env({"CALLCASE_HTTP_PORT": "70000"})


def test_password_is_hidden_from_repr() -> None:
    s = Settings.from_env({"CALLCASE_DATABASE_URL": "postgresql://u:s3cret@db:5432/x",
                           "CALLCASE_REDIS_URL": "redis://:hunter2@cache:6379/0"})
    assert "s3cret" not in repr(s)
    assert "hunter2" not in repr(s)
    assert s.database.url.endswith("@db:5432/x")


def test_telephony_settings() -> None:
    s = Settings.from_env({"CALLCASE_SIP_PORT": "5080", "CALLCASE_RTP_PORTS": "20000-20100"})
    assert (s.telephony.sip_port, s.telephony.rtp_ports) == (5080, (20000, 20100))
    with pytest.raises(SettingsError, match="CALLCASE_RTP_PORTS"):
        Settings.from_env({"CALLCASE_RTP_PORTS": "30000-20000"})


def test_transcription_settings() -> None:
    default = Settings.from_env({})
    assert (default.transcription.engine, default.transcription.vosk_model) == ("vosk", None)
    chosen = Settings.from_env({"CALLCASE_ASR_ENGINE": "pocketsphinx",
                                "CALLCASE_VOSK_MODEL": "/srv/models/vosk-cn"})
    assert chosen.transcription.engine == "pocketsphinx"
    assert chosen.transcription.vosk_model == "/srv/models/vosk-cn"
