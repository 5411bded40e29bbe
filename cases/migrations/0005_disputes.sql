-- Disputes and fraud claims, the bank's webhook, and delivery bookkeeping of the
-- notifications to the bank (cases/disputes.py, cases/outbox.py, api/webhooks.py).
--
-- A dispute is opened in the transaction that files DSP or FRD (the action that
-- placed the hold); only the bank resolves it. `statement` (the debtor's words) and
-- `note` (the bank's) are nullable so that offboarding can erase them; a dispute is
-- never opened without a statement (cases/disputes.py checks it).

CREATE TABLE disputes (
    id           bigserial     PRIMARY KEY,
    case_id      bigint        NOT NULL REFERENCES cases(id),
    client_id    bigint        NOT NULL REFERENCES clients(id),
    action_id    bigint        NOT NULL UNIQUE REFERENCES actions(id),
    kind         text          NOT NULL CHECK (kind IN ('dispute', 'fraud')),
    statement    text          CHECK (length(statement) BETWEEN 1 AND 4000),
    status       text          NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    opened_at    timestamptz   NOT NULL,
    opened_by    bigint        REFERENCES users(id),
    resolution   text          CHECK (resolution IN ('debt_confirmed', 'debt_adjusted',
                                   'debt_cancelled', 'fraud_confirmed')),
    old_balance  numeric(18,2),
    new_balance  numeric(18,2) CHECK (new_balance > 0),
    resolved_by  bigint        REFERENCES users(id),
    resolved_at  timestamptz,
    note         text          CHECK (length(note) BETWEEN 1 AND 4000),
    CHECK ((status = 'resolved') = (resolution IS NOT NULL)),
    CHECK ((status = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK ((resolution IS NOT DISTINCT FROM 'debt_adjusted') = (new_balance IS NOT NULL))
);
CREATE INDEX disputes_client ON disputes (client_id, status, id);
CREATE INDEX disputes_open_case ON disputes (case_id) WHERE status = 'open';

-- Where the bank wants its notifications pushed. The secret signs every delivery
-- (HMAC-SHA256), so it is kept as given; the API never returns it.
CREATE TABLE client_webhooks (
    client_id   bigint      PRIMARY KEY REFERENCES clients(id),
    url         text        NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    secret      text        NOT NULL CHECK (length(secret) BETWEEN 16 AND 200),
    active      boolean     NOT NULL DEFAULT true,
    updated_at  timestamptz NOT NULL,
    updated_by  bigint      REFERENCES users(id)
);

-- Delivery of each notification: `delivery_id` is sent on every try (the receiver's
-- idempotency key); `attempts` counts tries; `next_attempt_at` NULL means due now;
-- `dead_at` marks one given up on after the last retry; `acked_at` marks one the bank
-- acknowledged through the feed (it is then not pushed any more).
ALTER TABLE client_notifications
    ADD COLUMN delivery_id      uuid        NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN attempts         integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at  timestamptz,
    ADD COLUMN last_status      integer,
    ADD COLUMN last_error       text,
    ADD COLUMN dead_at          timestamptz,
    ADD COLUMN acked_at         timestamptz;
ALTER TABLE client_notifications ADD CONSTRAINT client_notifications_delivery_id
    UNIQUE (delivery_id);
CREATE INDEX client_notifications_feed ON client_notifications (client_id, id);
CREATE INDEX client_notifications_due ON client_notifications (next_attempt_at NULLS FIRST, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND acked_at IS NULL;
