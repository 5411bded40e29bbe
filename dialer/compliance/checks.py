"""One small pure function per rule (the rolling counters are in `counters`).

Each check takes the `Context` of one decision and returns its refusals, empty
when the rule lets the call through or the pack does not have the rule. Checks
never raise for bad data: missing or unusable data is a `data.*` refusal (fail
closed). A refusal's `retry_at` is None when no time lifts it (holds, flags,
parties, data, configuration), `now` when it depends on live state that may change
at any moment (abandon budget, work line, recorder), and otherwise the instant the
rule would first pass.

`before_window` (rules 1-4) and `live_state` (rules 7-9) tell the usual case, where
none refuses, in one test; otherwise they return what their rules return, in order.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from functools import lru_cache

from dialer.compliance.context import Context
from dialer.compliance.model import (
    COMMUNICATIONS,
    Consent,
    Note,
    Reason,
    ReasonCode,
)
from dialer.compliance.packs import RulePack
from dialer.compliance.windows import (
    DailyWindow,
    fit_bounds,
    fits_on,
    next_fit_everywhere,
    next_opening,
)

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Enum members as plain names for the usual case's test (a lookup on the class
# costs more than the test).
GIVEN, UNKNOWN = Consent.GIVEN, Consent.UNKNOWN


def _forever(code: ReasonCode, detail: str) -> tuple[Reason, ...]:
    return (Reason(code, detail, None),)


def before_window(ctx: Context) -> tuple[Reason, ...]:
    """The refusals of rules 1-4 (holds, bans, consent, party), in order."""
    who, pack = ctx.candidate, ctx.pack
    given = who.consent
    if (
        not who.holds
        and not (who.do_not_call or who.cease_requested or who.attorney_represented)
        and (given is GIVEN or (given is UNKNOWN and not pack.consent_required))
        and who.party in pack.direct_parties
        and E164.match(who.number) is not None
    ):
        return ()  # the usual case, told without calling the four rules
    return holds(ctx) + contact_bans(ctx) + consent(ctx) + party(ctx)


# 1. Case holds.


def holds(ctx: Context) -> tuple[Reason, ...]:
    if not ctx.candidate.holds:
        return ()
    return tuple(
        Reason(ReasonCode(f"hold.{hold}"), f"the case is on hold: {hold}", None)
        for hold in sorted(ctx.candidate.holds)
    )


# 2. Do-not-call and cease.


def contact_bans(ctx: Context) -> tuple[Reason, ...]:
    who = ctx.candidate
    flagged = who.do_not_call or who.cease_requested or who.attorney_represented
    if not flagged and E164.match(who.number) is not None:
        return ()  # the usual case, told without building anything
    bans = (
        (E164.match(who.number) is None, ReasonCode.DATA_INVALID_NUMBER,
         "the number is not in E.164 form"),
        (who.do_not_call, ReasonCode.DNC_NUMBER, "the number is on a do-not-call list"),
        (who.cease_requested, ReasonCode.CEASE_REQUESTED, "the debtor asked to cease contact"),
        (who.attorney_represented, ReasonCode.CEASE_ATTORNEY,
         "the debtor is represented by an attorney"),
    )  # fmt: skip
    return tuple(Reason(code, detail, None) for banned, code, detail in bans if banned)


# 3. Consent.


def consent(ctx: Context) -> tuple[Reason, ...]:
    given = ctx.candidate.consent
    if given is Consent.REVOKED:
        return _forever(ReasonCode.CONSENT_REVOKED, "consent to calls on this number revoked")
    if ctx.pack.consent_required and given is not Consent.GIVEN:
        return _forever(ReasonCode.CONSENT_MISSING, "no recorded consent to calls on this number")
    return ()


# 4. Who may be called.


def party(ctx: Context) -> tuple[Reason, ...]:
    who, pack = ctx.candidate, ctx.pack
    if who.party is None:
        return _forever(ReasonCode.DATA_UNKNOWN_PARTY, "the number's owner is unknown")
    if who.party in pack.direct_parties:
        return ()
    if who.party not in pack.locate_parties:
        return _forever(ReasonCode.PARTY_NOT_ALLOWED, f"{who.party} may not be called")
    return _third_party(ctx)


def _third_party(ctx: Context) -> tuple[Reason, ...]:
    found: tuple[Reason, ...] = ()
    if not ctx.candidate.lost_contact:
        found += _forever(
            ReasonCode.THIRD_PARTY_NOT_LOST, "third parties only after a lost-contact finding"
        )
    limit = ctx.pack.third_party_contacts
    if limit is not None and third_party_contacts(ctx) >= limit:
        found += _forever(
            ReasonCode.REGF_THIRD_PARTY_ONCE, f"this third party was already contacted ({limit})"
        )
    return found


def third_party_contacts(ctx: Context) -> int:
    who = ctx.candidate
    return sum(
        1 for a in ctx.history.attempts
        if a.number == who.number and a.debtor_id == who.debtor_id
        and a.outcome in COMMUNICATIONS
    )  # fmt: skip


# 5. Time window.


def window(ctx: Context) -> tuple[Reason, ...]:
    span, ring, who = ctx.window, ctx.dial.ring_timeout, ctx.candidate
    if (
        span is None
        or ring < ctx.pack.min_ring
        or not ctx.zones
        or (who.no_holiday_calls and who.holidays is None)
    ):
        return _window_setup(ctx)
    if len(ctx.zones) > 1:
        return _window_everywhere(ctx, span, ring)
    zone, day, now, closed = ctx.zones[0], ctx.days[0], ctx.now, ctx.closed_days
    if day in closed:  # the usual cases first, told with the fewest steps
        retry = next_opening(day, now, ring, zone, span, closed)
        return (Reason(ReasonCode.WINDOW_HOLIDAY, f"a public holiday in {[zone.key]}", retry),)
    opens, last = fit_bounds(day, zone, span.start, span.end, ring)
    if opens <= now < last:  # `fits_on`, inlined
        return ()
    retry = next_opening(day, now, ring, zone, span, closed)
    detail = _outside_detail(ring, span.start, span.end, (zone.key,))
    return (Reason(ReasonCode.WINDOW_OUTSIDE, detail, retry),)


def _window_setup(ctx: Context) -> tuple[Reason, ...]:
    """Refusals that no waiting lifts: configuration and missing data."""
    return tuple(Reason(code, detail, None) for code, detail in _setup_problems(ctx))


def _setup_problems(ctx: Context) -> list[tuple[ReasonCode, str]]:
    who, ring, pack = ctx.candidate, ctx.dial.ring_timeout, ctx.pack
    found: list[tuple[ReasonCode, str]] = []
    if ring < pack.min_ring:
        found.append((ReasonCode.RING_TOO_SHORT, f"ring timeout {ring} is below {pack.min_ring}"))
    if not who.time_zones:
        found.append((ReasonCode.DATA_UNKNOWN_TIME_ZONE, "the debtor's time zone is unknown"))
    elif not ctx.zones:
        found.append((ReasonCode.DATA_INVALID_TIME_ZONE,
                      f"not a time zone among {list(who.time_zones)}"))
    if ctx.window is None:
        found.append((ReasonCode.WINDOW_AGREED_FORBIDDEN,
                      f"the agreed window {who.agreed_window} is outside {pack.window_limit}"))
    if who.no_holiday_calls and who.holidays is None:
        found.append((ReasonCode.DATA_UNKNOWN_HOLIDAYS,
                      "no holiday calendar for a client that forbids holiday calls"))
    return found


def _window_everywhere(ctx: Context, span: DailyWindow, ring: timedelta) -> tuple[Reason, ...]:
    """The window for a callee in several zones: the call must fit in each."""
    now, closed = ctx.now, ctx.closed_days
    holiday: list[str] = []  # zone names: a zone's key names its day
    outside: list[str] = []
    for zone, day in zip(ctx.zones, ctx.days, strict=True):
        if day in closed:
            holiday.append(zone.key)
        elif not fits_on(day, now, ring, zone, span):
            outside.append(zone.key)
    if not holiday and not outside:
        return ()
    retry = next_fit_everywhere(now, ring, ctx.zones, span, closed, ctx.days)
    found: tuple[Reason, ...] = ()
    if holiday:
        found += (Reason(ReasonCode.WINDOW_HOLIDAY, f"a public holiday in {holiday}", retry),)
    if outside:
        detail = _outside_detail(ring, span.start, span.end, tuple(outside))
        found += (Reason(ReasonCode.WINDOW_OUTSIDE, detail, retry),)
    return found


@lru_cache(maxsize=1024)
def _outside_detail(ring: timedelta, start: time, end: time, zones: tuple[str, ...]) -> str:
    """Cached: half the decisions are refused with one of a few such details."""
    span = DailyWindow(start, end)
    return f"the ring ({ring}) does not fit in {span} local time in {list(zones)}"


# 6. Rolling counters: `dialer.compliance.counters`.


# 7-9. The campaign's abandon budget and the site's resources.


def live_state(ctx: Context) -> tuple[Reason, ...]:
    """The refusals of the abandon budget, the work line and the recorder, in order."""
    found = abandon_budget(ctx)
    resources = ctx.dial.resources
    if resources.work_line and resources.recording:
        return found  # the usual case, told without calling the other two
    return found + work_line(ctx) + recording(ctx)


# 7. Campaign abandon budget.


def abandon_budget(ctx: Context) -> tuple[Reason, ...]:
    cap, state = ctx.pack.abandon_cap, ctx.dial.campaign
    if cap is None or ctx.dial.agent_guaranteed or state.abandoned == 0:
        return ()
    answered = state.abandoned + state.live
    if state.abandoned * cap.denominator < cap.numerator * answered:  # rate < cap, exactly
        return ()
    detail = f"{state.abandoned} of {answered} answers abandoned: the {cap * 100}% budget is spent"
    return (Reason(ReasonCode.ABANDON_CAP, detail, ctx.now),)


# 8-9. Site resources.


def work_line(ctx: Context) -> tuple[Reason, ...]:
    if ctx.dial.resources.work_line:
        return ()
    return (Reason(ReasonCode.RESOURCE_NO_WORK_LINE, "no registered work line free", ctx.now),)


def recording(ctx: Context) -> tuple[Reason, ...]:
    if ctx.dial.resources.recording:
        return ()
    return (Reason(ReasonCode.RESOURCE_NO_RECORDING, "the call could not be recorded", ctx.now),)


def notes_of(pack: RulePack, *, locating: bool) -> tuple[Note, ...]:
    """The advisories of `pack` for a call to a callee it may only locate, or not."""
    found: tuple[Note, ...] = ()
    if locating:
        found += (Note.THIRD_PARTY_LOCATE_ONLY,)
    if pack.limited_content_voicemail:
        found += (Note.VOICEMAIL_LIMITED_CONTENT,)
    return found
