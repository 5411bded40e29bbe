"""The simulated carrier (asyncio): a SIP endpoint on loopback answering debtors' numbers.

Configure it as a work line's trunk and every number called through that line reaches
a simulated phone: :func:`~telephony.simulated.behaviour.plan_for` draws what the
phone does from the number and the profile's seed, a
:class:`~telephony.simulated.phone.DebtorPhone` does it, and ``on_report`` hears how
each call ended. One user agent takes every INVITE, one media engine (on the
process's one media clock) carries every call's RTP, so a hundred calls at once cost
a hundred streams on one tick, not a hundred tasks.

An INVITE is refused before any phone rings when it is the caller's fault (logged,
answered, and the carrier carries on): no number in the Request-URI (404), a body
that is not SDP (400), no offer or no PCMU/PCMA audio in it (488). SIP that does not
parse at all is answered 400 by the transport. It listens on loopback only: it is a
stand-in for a telephone network on the demo machine, not a service.

    carrier = await SimulatedCarrier.open("127.0.0.1", 5070, profile=Profile(seed=1),
                                          speech=Speech(Path("var/sim-audio")), media=media)
    ...
    await carrier.close()  # phones still ringing get 480, calls still up get BYE
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Callable

from telephony.media.engine import MediaEngine
from telephony.media.g711 import CODECS
from telephony.simulated.behaviour import Plan, Profile, all_texts, plan_for
from telephony.simulated.phone import Audio, DebtorPhone
from telephony.simulated.report import CallReport, Result, Tally
from telephony.simulated.sounds import render
from telephony.simulated.speech import Speech
from telephony.sip.incoming import IncomingCall
from telephony.sip.sdp import (
    AudioSession,
    SdpNegotiationError,
    SdpParseError,
    SessionDescription,
    negotiate,
)
from telephony.sip.transaction import DEFAULT_TIMING, Timing
from telephony.sip.ua import UserAgent

logger = logging.getLogger(__name__)

ReportHandler = Callable[[CallReport], None]
CLOSE_GRACE = 5.0  # seconds close() waits for the phones' BYEs to be answered


class OfferRefused(ValueError):
    """An INVITE we refuse before any phone rings: the caller's fault."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


class SimulatedCarrier:
    """See the module docstring. Open with :meth:`open`."""

    def __init__(self, profile: Profile, speech: Speech, media: MediaEngine, *,
                 max_talk: float, on_report: ReportHandler | None) -> None:  # fmt: skip
        self.profile, self.speech, self.media = profile, speech, media
        self.max_talk, self.on_report = max_talk, on_report
        self.tally = Tally()
        self.closing = asyncio.Event()
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._ua: UserAgent | None = None

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 5070,
        *,
        profile: Profile,
        speech: Speech,
        media: MediaEngine,
        max_talk: float = 300.0,
        on_report: ReportHandler | None = None,
        timing: Timing = DEFAULT_TIMING,
    ) -> SimulatedCarrier:
        """Prepare every sentence's clip, then listen on ``host``:``port`` (0: any)."""
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the simulated carrier listens on loopback only, not {host}")
        await speech.prepare(all_texts())
        carrier = cls(profile, speech, media, max_talk=max_talk, on_report=on_report)
        carrier._ua = await UserAgent.open(
            host, port, user="carrier", on_invite=carrier._on_invite, timing=timing
        )
        return carrier

    @property
    def ua(self) -> UserAgent:
        if self._ua is None:
            raise RuntimeError("the simulated carrier is not open")
        return self._ua

    @property
    def address(self) -> tuple[str, int]:
        return self.ua.endpoint.address

    async def close(self) -> None:
        """Ringing phones answer 480, talking ones hang up; then stop listening."""
        self.closing.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_GRACE):
                await self._idle.wait()
        self.ua.close()

    async def _on_invite(self, offered: IncomingCall) -> None:
        self.active += 1
        self._idle.clear()
        try:
            report = await self._serve(offered)
        finally:
            self.active -= 1
            if not self.active:
                self._idle.set()
        logger.debug("call %s: %s", report.call_id, report.line())
        self.tally.add(report)
        if self.on_report is not None:
            self.on_report(report)

    async def _serve(self, offered: IncomingCall) -> CallReport:
        number = offered.request.uri.user or ""
        try:
            offer, session = accepted_offer(number, offered.offer)
        except OfferRefused as refused:
            logger.info("call %s to %r refused %d: %s", offered.request.call_id, number,
                        refused.status, refused)  # fmt: skip
            offered.reject(refused.status)
            return CallReport(offered.request.call_id, number, None, Result.REFUSED,
                              refused.status, note=str(refused))  # fmt: skip
        plan = plan_for(number, self.profile)
        phone = DebtorPhone(offered, plan, self._audio(plan), self.media, offer=offer,
                            session=session, max_talk=self.max_talk, closing=self.closing)
        return await phone.run()

    def _audio(self, plan: Plan) -> Audio:
        loop = render(plan.loop, self.speech.say) if plan.loop else None
        return Audio(render(plan.opening, self.speech.say), loop)


def accepted_offer(number: str, offer: bytes) -> tuple[SessionDescription, AudioSession]:
    """The SDP offer of an INVITE to ``number`` and its audio; raises
    :class:`OfferRefused` with the status to answer when it is unusable."""
    if not number.lstrip("+").isdigit():
        raise OfferRefused(404, "no phone number in the Request-URI")
    if not offer:
        raise OfferRefused(488, "no SDP offer in the INVITE")
    try:
        sdp = SessionDescription.parse(offer)
        session = negotiate(sdp)
    except SdpParseError as exc:
        raise OfferRefused(400, f"bad SDP: {exc}") from None
    except SdpNegotiationError as exc:
        raise OfferRefused(488, str(exc)) from None
    if session.codec.payload_type not in CODECS:
        raise OfferRefused(488, f"PCMU/PCMA on payload type {session.codec.payload_type}")
    return sdp, session
