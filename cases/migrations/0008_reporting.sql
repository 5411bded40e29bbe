-- Month-end reports (api/reports.py): complaints, and the indexes the reports need
-- over the case records.
--
-- complaints: a debtor's (or the bank's, or a regulator's) complaint about how a case
-- was worked. The bank counts an account non-compliant in a month in which a
-- complaint about it was received. `summary` is free text (it may name people):
-- offboarding a client erases it like the other free text of its cases.

CREATE TABLE complaints (
    id           bigserial   PRIMARY KEY,
    case_id      bigint      NOT NULL REFERENCES cases(id),
    client_id    bigint      NOT NULL REFERENCES clients(id),
    received_at  timestamptz NOT NULL,
    channel      text        NOT NULL CHECK (channel IN ('phone', 'letter', 'email',
                                 'in_person', 'bank', 'regulator', 'other')),
    summary      text        NOT NULL CHECK (length(summary) BETWEEN 1 AND 2000),
    recorded_by  bigint      NOT NULL REFERENCES users(id),
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX complaints_client ON complaints (client_id, received_at);
CREATE INDEX complaints_case ON complaints (case_id, received_at);

-- The promises that fall due in a month (PTP kept rate).
CREATE INDEX promises_due ON promises (due_date);
