"""JSON shapes of domain values in API responses. IDs are masked unless revealed."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from cases.audit import AuditEntry
from cases.domain import Action, ActionCode, CaseDetail, CaseSummary, Client, Phone, User


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def client_json(c: Client) -> dict[str, object]:
    return {"id": c.id, "code": c.code, "name": c.name, "time_zone": c.time_zone,
            "default_region": c.default_region, "rule_pack": c.rule_pack,
            "retention_years": c.retention_years}


def user_json(u: User) -> dict[str, object]:
    return {"id": u.id, "username": u.username, "display_name": u.display_name,
            "role": str(u.role), "client_id": u.client_id, "team": u.team,
            "pii_clearance": u.pii_clearance, "active": u.active}


def case_summary_json(s: CaseSummary) -> dict[str, object]:
    return {"id": s.id, "client_id": s.client_id, "account_no": s.account_no,
            "debtor_name": s.debtor_name, "product": s.product, "currency": s.currency,
            "balance": _money(s.balance), "days_past_due": s.days_past_due,
            "bucket": s.bucket, "status": str(s.status),
            "assigned_agent_id": s.assigned_agent_id,
            "next_action_at": _iso(s.next_action_at), "on_hold": s.on_hold}


def case_detail_json(d: CaseDetail, *, reveal_id: bool) -> dict[str, object]:
    body = case_summary_json(d.summary)
    body.update({
        "debtor": {
            "id": d.debtor_id,
            "name": d.summary.debtor_name,
            "id_no": d.debtor_id_no.reveal() if reveal_id else d.debtor_id_no.masked,
            "id_no_masked": not reveal_id,
            "address": d.address, "city": d.city, "time_zone": d.time_zone,
            "employer": d.employer,
        },
        "account_type": d.account_type, "principal": _money(d.principal),
        "last_payment_date": _iso(d.last_payment_date),
        "last_payment_amount": _money(d.last_payment_amount), "note": d.note,
        "priority": d.priority,
        "holds": [{"id": h.id, "reason": h.reason, "placed_at": _iso(h.placed_at),
                   "note": h.note} for h in d.holds],
        "promises": [{"id": p.id, "amount": _money(p.amount), "due_date": _iso(p.due_date),
                      "status": p.status, "created_at": _iso(p.created_at)}
                     for p in d.promises],
    })
    return body


def phone_json(p: Phone) -> dict[str, object]:
    return {"id": p.id, "e164": p.e164, "party": str(p.party), "kind": p.kind,
            "name": p.name, "relation": p.relation, "validity": str(p.validity)}


def action_code_json(c: ActionCode) -> dict[str, object]:
    return {"code": c.code, "category": c.category, "label_en": c.label_en,
            "label_zh": c.label_zh, "connected": c.connected, "right_party": c.right_party,
            "required_fields": list(c.required_fields),
            "status_after": c.status_after and str(c.status_after),
            "retry_after_hours": c.retry_after_hours, "hold_reason": c.hold_reason,
            "creates_promise": c.creates_promise, "invalidates_phone": c.invalidates_phone,
            "field_visit": c.field_visit, "notify_client": c.notify_client,
            "needs_approval": c.needs_approval}


def action_json(a: Action) -> dict[str, object]:
    return {"id": a.id, "case_id": a.case_id, "code": a.code, "user_id": a.user_id,
            "phone_id": a.phone_id, "note": a.note, "fields": a.fields, "effect": a.effect,
            "created_at": _iso(a.created_at)}


def audit_json(e: AuditEntry) -> dict[str, object]:
    return {"id": e.id, "at": _iso(e.at), "user_id": e.user_id, "username": e.username,
            "role": e.role, "client_id": e.client_id, "action": e.action,
            "record_type": e.record_type, "record_id": e.record_id, "ip": e.ip,
            "request_id": e.request_id, "details": e.details}
