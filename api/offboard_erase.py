"""Erasing an offboarded client's personal data from the case records, in one transaction.

The rows stay (anonymised skeletons: ids, amounts, dates, statuses, action codes,
who worked the case): actions and the audit log are append-only evidence and refer
to them by id, and foreign keys tie them together. What identifies a debtor or a
contact is replaced or erased:

- debtors: name -> ``debtor <id>``, ID number -> ``offboarded-<id>``; address, city,
  employer erased;
- cases: account number -> ``offboarded-<id>``, the bank's note erased, status
  ``closed`` with no next action;
- phones: number -> ``+999`` and the id (999 is no country code, so it can never
  ring anyone), name, relation and consent notes erased, marked invalid, consent
  revoked, do-not-call; the dialer's attempts get the same number;
- actions: the note and the free-text fields ``statement`` and ``note`` erased
  (the amounts and dates of promises and callbacks stay); the actions trigger allows
  this erasure, and only this, for a client with a ``client_offboardings`` row, which
  is written first in the same transaction (``api/migrations/0003_offboarding.sql``);
- holds' notes and the free text in notifications to the bank erased; account numbers
  quoted in batch and payment-file rejections erased; the debtors' statements and the
  bank's notes on disputes erased, the bank's webhook deactivated; the reasons,
  descriptions and decision notes of approval requests, field visits' addresses,
  result notes and cancel reasons, and complaint summaries replaced by ``erased at
  offboarding`` (the visits' evidence files are deleted by `api.offboard`);
- transcripts (and their jobs) of the recordings deleted, when installed;
- the client's auditor accounts deactivated and their sessions revoked (staff of the
  bank, kept by name: the audit log names them).

Cases with a recording on legal hold keep everything, with the debtor they belong to
(a hold keeps the evidence whole, and a recording without its case is no evidence).
Every statement skips rows done already, so a second run changes nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases.store import Conn

FREE_TEXT_FIELDS = ("statement", "note")


@dataclass(frozen=True, slots=True)
class Step:
    kind: str  # what the count in the certificate is of
    sql: str  # its parameters are ``args`` in order
    table: str  # skipped when the table is not installed
    args: tuple[str, ...] = ("client", "held")  # of the client id, held case ids, now


STEPS: tuple[Step, ...] = (
    Step("debtors", """
        UPDATE debtors d SET name = 'debtor ' || d.id, id_no = 'offboarded-' || d.id,
               address = NULL, city = NULL, employer = NULL, updated_at = $3
        WHERE d.client_id = $1 AND d.id_no <> 'offboarded-' || d.id
          AND NOT EXISTS (SELECT 1 FROM cases c WHERE c.debtor_id = d.id AND c.id = ANY($2))
        """, "debtors", ("client", "held", "now")),
    Step("phones", """
        UPDATE phones p SET e164 = '+999' || lpad(p.id::text, 11, '0'), name = NULL,
               relation = NULL, consent_notes = NULL, validity = 'invalid',
               consent = 'revoked', do_not_call = true
        FROM cases c WHERE c.id = p.case_id AND c.client_id = $1 AND NOT c.id = ANY($2)
          AND p.e164 <> '+999' || lpad(p.id::text, 11, '0')""", "phones"),
    Step("attempts", """
        UPDATE attempts t SET number = p.e164 FROM phones p, cases c
        WHERE p.id = t.phone_id AND c.id = t.case_id AND c.client_id = $1
          AND NOT c.id = ANY($2) AND t.number <> p.e164""", "attempts"),
    Step("cases", """
        UPDATE cases c SET account_no = 'offboarded-' || c.id, note = NULL,
               status = 'closed', next_action_at = NULL, updated_at = $3
        WHERE c.client_id = $1 AND NOT c.id = ANY($2)
          AND c.account_no <> 'offboarded-' || c.id""", "cases", ("client", "held", "now")),
    Step("actions", """
        UPDATE actions a SET note = NULL, fields = a.fields - 'statement' - 'note'
        FROM cases c WHERE c.id = a.case_id AND c.client_id = $1 AND NOT c.id = ANY($2)
          AND (a.note IS NOT NULL OR a.fields ?| ARRAY['statement', 'note'])""", "actions"),
    Step("hold_notes", """
        UPDATE case_holds h SET note = NULL FROM cases c
        WHERE c.id = h.case_id AND c.client_id = $1 AND NOT c.id = ANY($2)
          AND h.note IS NOT NULL""", "case_holds"),
    Step("notifications", """
        UPDATE client_notifications n SET payload = n.payload - 'statement' - 'note'
        WHERE n.client_id = $1 AND NOT coalesce(n.case_id = ANY($2), false)
          AND n.payload ?| ARRAY['statement', 'note']""", "client_notifications"),
    Step("disputes", """
        UPDATE disputes d SET statement = NULL, note = NULL
        WHERE d.client_id = $1 AND NOT d.case_id = ANY($2)
          AND (d.statement IS NOT NULL OR d.note IS NOT NULL)""", "disputes"),
    Step("webhooks", """
        UPDATE client_webhooks SET active = false WHERE client_id = $1 AND active""",
         "client_webhooks", ("client",)),
    Step("approval_texts", """
        UPDATE approval_requests a SET reason = 'erased at offboarding',
               description = CASE WHEN description IS NULL THEN NULL
                                  ELSE 'erased at offboarding' END,
               decision_note = CASE WHEN decision_note IS NULL THEN NULL
                                    ELSE 'erased at offboarding' END
        WHERE a.client_id = $1 AND NOT a.case_id = ANY($2)
          AND a.reason <> 'erased at offboarding'""", "approval_requests"),
    Step("field_visits", """
        UPDATE field_visit_requests v SET
               address = CASE WHEN address IS NULL THEN NULL ELSE 'erased at offboarding' END,
               result_notes = CASE WHEN result_notes IS NULL THEN NULL
                                   ELSE 'erased at offboarding' END,
               cancel_reason = CASE WHEN cancel_reason IS NULL THEN NULL
                                    ELSE 'erased at offboarding' END
        FROM cases c WHERE c.id = v.case_id AND c.client_id = $1 AND NOT c.id = ANY($2)
          AND (v.address IS DISTINCT FROM 'erased at offboarding' AND v.address IS NOT NULL
               OR v.result_notes IS DISTINCT FROM 'erased at offboarding'
                  AND v.result_notes IS NOT NULL
               OR v.cancel_reason IS DISTINCT FROM 'erased at offboarding'
                  AND v.cancel_reason IS NOT NULL)""", "field_visit_requests"),
    Step("batch_rejections", """
        UPDATE batch_rejections r SET account_no = NULL FROM batches b
        WHERE b.id = r.batch_id AND b.client_id = $1 AND r.account_no IS NOT NULL""",
         "batch_rejections", ("client",)),
    Step("complaints", """
        UPDATE complaints x SET summary = 'erased at offboarding'
        WHERE x.client_id = $1 AND NOT x.case_id = ANY($2)
          AND x.summary <> 'erased at offboarding'""", "complaints"),
    Step("payment_rejections", """
        UPDATE payment_rejections r SET account_no = NULL FROM payment_imports i
        WHERE i.id = r.import_id AND i.client_id = $1 AND r.account_no IS NOT NULL""",
         "payment_rejections", ("client",)),
    Step("transcripts", """
        DELETE FROM transcripts t USING recordings r
        WHERE r.id = t.recording_id AND r.client_id = $1 AND r.state = 'deleted'
          AND NOT r.case_id = ANY($2)""", "transcripts"),
    Step("transcription_jobs", """
        DELETE FROM transcription_jobs j USING recordings r
        WHERE r.id = j.recording_id AND r.client_id = $1 AND r.state = 'deleted'
          AND NOT r.case_id = ANY($2)""", "transcription_jobs"),
    Step("client_users", """
        UPDATE users SET active = false WHERE client_id = $1 AND active""", "users",
         ("client",)),
    Step("sessions", """
        UPDATE api_sessions s SET revoked_at = $2 FROM users u
        WHERE u.id = s.user_id AND u.client_id = $1 AND s.revoked_at IS NULL""",
         "api_sessions", ("client", "now")),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Erased:
    offboarding_id: int
    held_cases: tuple[int, ...]
    counts: dict[str, int]  # rows changed (or deleted) per :data:`STEPS` kind


_HELD = """
SELECT DISTINCT case_id FROM recordings
WHERE client_id = $1 AND legal_hold AND state <> 'deleted' ORDER BY case_id
"""


async def held_cases(db: Conn | asyncpg.Pool, client_id: int) -> tuple[int, ...]:
    """The client's cases with a recording on legal hold: kept whole."""
    return tuple(r["case_id"] for r in await db.fetch(_HELD, client_id))


async def erase(pool: asyncpg.Pool, client_id: int, now: datetime) -> Erased:
    """Record the offboarding and erase the client's personal data (module docstring)."""
    async with pool.acquire() as conn, conn.transaction():
        held = await held_cases(conn, client_id)
        offboarding_id = await conn.fetchval(
            "INSERT INTO client_offboardings (client_id, offboarded_at, held_cases)"
            " VALUES ($1, $2, $3) RETURNING id", client_id, now, list(held))
        counts = {}
        for step in STEPS:
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", step.table):
                counts[step.kind] = await _run(conn, step, client_id, held, now)
    return Erased(offboarding_id, held, counts)


async def _run(conn: Conn, step: Step, client_id: int, held: tuple[int, ...],
               now: datetime) -> int:
    values: dict[str, object] = {"client": client_id, "held": list(held), "now": now}
    status = await conn.execute(step.sql, *(values[name] for name in step.args))
    return int(status.rsplit(" ", 1)[-1])
