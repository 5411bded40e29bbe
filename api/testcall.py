"""`callcase test-call`: one call from the command line, for operators checking a trunk.

It places a call through a registered work line (`--line NAME --to NUMBER`) or
straight to a SIP URI (`--to sip:...`), keeps it up for `--seconds` after the
answer (or until the far end hangs up), hangs up, and prints what happened: the
progress of the SIP exchange with times, the outcome and SIP status, ring and talk
time, RTP packets sent, received and lost. `--save FILE.wav` keeps the tapped
audio as a stereo WAV (channel 1 the far end, channel 2 what we sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from api.settings import Settings
from telephony import store as telephony_store
from telephony.control import CallControl, ControlledCall
from telephony.lines import WorkLines
from telephony.media.engine import MediaEngine
from telephony.media.wavtap import WavTapWriter
from telephony.sip.call_state import Outcome
from telephony.sip.ua import UserAgent


@dataclass
class TestCallReport:
    to: str
    line: str | None
    result: str = "failed"
    sip_status: int | None = None
    reason: str = ""
    ring_seconds: float | None = None
    talk_seconds: float | None = None
    packets_sent: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    jitter_ms: float = 0.0
    exchange: list[tuple[float, str, int | None]] = field(default_factory=list)
    saved: str | None = None

    def as_json(self) -> dict[str, object]:
        body = dict(self.__dict__)
        body["exchange"] = [{"t": round(t, 3), "event": e, "status": s}
                            for t, e, s in self.exchange]
        return body

    def text(self) -> str:
        lines = [f"test call to {self.to}" + (f" via work line {self.line}" if self.line else "")]
        lines += [f"  {t:7.3f} s  {event}" + (f" ({status})" if status else "")
                  for t, event, status in self.exchange]
        lines.append(f"result: {self.result}" + (f", SIP {self.sip_status}"
                                                  if self.sip_status else "")
                     + (f" {self.reason}" if self.reason else ""))
        if self.ring_seconds is not None:
            lines.append(f"ring time: {self.ring_seconds:.2f} s")
        if self.talk_seconds is not None:
            lines.append(f"talk time: {self.talk_seconds:.2f} s")
        lines.append(f"RTP: sent {self.packets_sent}, received {self.packets_received}, "
                     f"lost {self.packets_lost}, jitter {self.jitter_ms:.1f} ms")
        if self.saved:
            lines.append(f"audio saved to {self.saved}")
        return "\n".join(lines)


async def _lines(settings: Settings, line: str | None) -> WorkLines:
    if line is None:
        return WorkLines()
    conn = await asyncpg.connect(settings.database.url)
    try:
        return await telephony_store.load_lines(conn)
    finally:
        await conn.close()


async def test_call(settings: Settings, *, to: str, line: str | None, seconds: float,
                    ring_timeout: float, save: Path | None) -> TestCallReport:
    lines = await _lines(settings, line)
    if line is not None:
        lines.get(line)  # refuse an unknown line before opening anything
    tel = settings.telephony
    report = TestCallReport(to=to, line=line)
    async with MediaEngine(host=tel.sip_host, port_range=tel.rtp_ports) as media:
        ua = await UserAgent.open(tel.sip_host, 0, user="test-call")
        control = CallControl(ua, media, lines, media_host=tel.sip_host)
        try:
            call = await control.originate(to, line=line, uri=None if line else to,
                                           ring_timeout=ring_timeout)
            writer = WavTapWriter(save) if save else None
            if writer:
                control.tap(call, writer)
            await _run(call, seconds, report)
            if writer:
                await writer.aclose()
                report.saved = str(save)
        finally:
            await control.close()
            ua.close()
    _fill(call, report)
    return report


async def _run(call: ControlledCall, seconds: float, report: TestCallReport) -> None:
    started = time.monotonic()
    answered_at: float | None = None
    async for event in call.events():
        report.exchange.append((time.monotonic() - started, str(event.outcome), event.status))
        if event.outcome is Outcome.ANSWERED:
            answered_at = time.monotonic()
            break
    if answered_at is None:
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await call.finished()
    final = await call.hangup()
    report.exchange.append((time.monotonic() - started, str(final.outcome), final.status))


def _fill(call: ControlledCall, report: TestCallReport) -> None:
    final = call.outcome
    if final is not None:
        report.result, report.sip_status, report.reason = (
            str(final.outcome), final.status, final.reason)
        if final.outcome in (Outcome.ENDED, Outcome.HUNG_UP, Outcome.MEDIA_TIMEOUT):
            report.result = "answered"
            report.reason = {Outcome.HUNG_UP: "hung up by the far end",
                             Outcome.MEDIA_TIMEOUT: f"hung up by us: {final.reason}"
                             }.get(final.outcome, "hung up by us")
    report.ring_seconds = call.timeline.ring_seconds
    report.talk_seconds = call.timeline.talk_seconds
    stats = call.media_stats
    if stats is not None:
        report.packets_sent, report.packets_received = stats.packets_sent, \
            stats.packets_received
        report.packets_lost, report.jitter_ms = stats.packets_lost, stats.jitter * 1000


def print_report(report: TestCallReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print(report.text())
