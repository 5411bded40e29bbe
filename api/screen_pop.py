"""The screen-pop: what an agent sees of the call they hold, and the script they may
follow on it.

The agent's live record names the call (the debtor's call as the dialer placed it);
the attempt with that call id names the case and the phone called. The screen-pop
shows the case summary (account, balance, bucket, days past due, status), the debtor
and the person called with names and numbers masked (`cases.domain.mask`; the
national id shows its last 4 characters and agents are never shown more), the last
`LAST_ACTIONS` actions and the open promises.

The script (`allowed_script`) is ``collection`` only when the person called is the
debtor or a guarantor and the compliance decision that let the call go did not note
``third_party.locate_only``; otherwise ``locate_only``: find the debtor, never speak
of the debt.

Attempts have no index on call_id; the call an agent talks on is still open, so it
is looked for among the open attempts first (the dialer's partial index), and among
all attempts only after the dialer closed it (during the wrap-up).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg

from api.views import action_json
from cases import actions
from cases.domain import CaseDetail, Party, Phone, mask
from cases.store import Db, get_case, phone_from_row

LOCATE_ONLY = "third_party.locate_only"
COLLECTION_PARTIES = frozenset({Party.DEBTOR, Party.GUARANTOR})
LAST_ACTIONS = 5


@dataclass(frozen=True, slots=True)
class HeldCall:
    """The attempt behind an agent's call."""

    attempt_id: int
    call_id: str
    case_id: int
    phone_id: int
    party: Party
    notes: tuple[str, ...]  # the compliance decision's notes
    campaign_id: int | None

    @property
    def script(self) -> str:
        return allowed_script(self.party, self.notes)


def allowed_script(party: Party, notes: Iterable[str]) -> str:
    if party not in COLLECTION_PARTIES or LOCATE_ONLY in notes:
        return "locate_only"
    return "collection"


_ATTEMPT = "SELECT id, call_id, case_id, phone_id, party, decision, campaign_id FROM attempts"


def _held(row: asyncpg.Record) -> HeldCall:
    notes = json.loads(row["decision"]).get("notes") or ()
    return HeldCall(row["id"], row["call_id"], row["case_id"], row["phone_id"],
                    Party(row["party"]), tuple(str(n) for n in notes), row["campaign_id"])


async def attempt_of_call(db: Db, call_id: str) -> HeldCall | None:
    """The latest attempt that placed `call_id`, an open one first (attempts_call
    indexes call_id, so one query serves open and closed attempts)."""
    row = await db.fetchrow(_ATTEMPT + " WHERE call_id = $1"
                            " ORDER BY ended_at IS NULL DESC, id DESC LIMIT 1", call_id)
    return None if row is None else _held(row)


async def attempt_filed_with(db: Db, user_id: int, key: str) -> HeldCall | None:
    """The attempt of the call on which `user_id` filed an action with idempotency
    key `key`, if they did (a retried request)."""
    row = await db.fetchrow(
        _ATTEMPT + " WHERE id = (SELECT attempt_id FROM actions WHERE user_id = $1"
        " AND idempotency_key = $2 AND attempt_id IS NOT NULL ORDER BY id DESC LIMIT 1)",
        user_id, key,
    )  # fmt: skip
    return None if row is None else _held(row)


async def screen_pop(db: Db, call: HeldCall) -> dict[str, object]:
    detail = await get_case(db, call.case_id)
    phone = await db.fetchrow("SELECT * FROM phones WHERE id = $1", call.phone_id)
    assert phone is not None  # attempts.phone_id references phones
    recent = await actions.case_actions(db, call.case_id, limit=LAST_ACTIONS)
    return {
        "call_id": call.call_id, "attempt_id": call.attempt_id,
        "campaign_id": call.campaign_id, "script": call.script,
        "case": _case_json(detail), "debtor": _debtor_json(detail),
        "phone": _phone_json(phone_from_row(phone)),
        "last_actions": [action_json(a) for a in recent],
        "open_promises": [
            {"id": p.id, "amount": str(p.amount), "due_date": p.due_date.isoformat(),
             "created_at": p.created_at.isoformat()}
            for p in detail.promises if p.status == "pending"
        ],
    }  # fmt: skip


def _case_json(detail: CaseDetail) -> dict[str, object]:
    s = detail.summary
    return {
        "id": s.id, "client_id": s.client_id, "account_no": s.account_no, "product": s.product,
        "currency": s.currency, "balance": str(s.balance), "bucket": s.bucket,
        "days_past_due": s.days_past_due, "status": str(s.status), "on_hold": s.on_hold,
        "next_action_at": None if s.next_action_at is None else s.next_action_at.isoformat(),
    }  # fmt: skip


def _debtor_json(detail: CaseDetail) -> dict[str, object]:
    return {"name": mask_name(detail.summary.debtor_name),
            "id_no": detail.debtor_id_no.masked, "city": detail.city}


def _phone_json(phone: Phone) -> dict[str, object]:
    return {"id": phone.id, "number": mask(phone.e164), "party": str(phone.party),
            "kind": phone.kind, "name": None if phone.name is None else mask_name(phone.name),
            "relation": phone.relation, "validity": str(phone.validity)}


def mask_name(name: str) -> str:
    """`*伟`, `***ith`: a quarter of the name at most, at the end."""
    return mask(name, visible=max(1, len(name) // 4)) if len(name) > 1 else "*"
