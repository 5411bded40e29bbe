-- Payments the bank reports (imported from its files): what the debtors paid.
-- `reference` is the bank's transaction reference, or, when the file has none, a
-- digest of (account_no, amount, paid_at); re-importing a file adds nothing.

CREATE TABLE payment_imports (
    id             bigserial   PRIMARY KEY,
    client_id      bigint      NOT NULL REFERENCES clients(id),
    file_name      text        NOT NULL,
    file_sha256    text        NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    imported_at    timestamptz NOT NULL,
    imported_by    bigint      REFERENCES users(id),
    rows_read      integer     NOT NULL,
    rows_accepted  integer     NOT NULL,
    rows_rejected  integer     NOT NULL,
    rows_duplicate integer     NOT NULL
);
CREATE INDEX payment_imports_client ON payment_imports (client_id, id);

CREATE TABLE payments (
    id          bigserial     PRIMARY KEY,
    client_id   bigint        NOT NULL REFERENCES clients(id),
    case_id     bigint        NOT NULL REFERENCES cases(id),
    amount      numeric(18,2) NOT NULL CHECK (amount > 0),
    paid_at     timestamptz   NOT NULL,
    reference   text          NOT NULL CHECK (length(reference) BETWEEN 1 AND 128),
    import_id   bigint        REFERENCES payment_imports(id),
    created_at  timestamptz   NOT NULL,
    UNIQUE (client_id, reference)
);
CREATE INDEX payments_case ON payments (case_id, paid_at);
CREATE INDEX payments_client_paid ON payments (client_id, paid_at);

-- The rows of a payment file that were not recorded, and why (unknown account, bad
-- amount or time, a row repeated in the file, a reference already used for a
-- different payment): nothing the bank sent is lost without a reason.
CREATE TABLE payment_rejections (
    import_id    bigint  NOT NULL REFERENCES payment_imports(id),
    row_number   integer NOT NULL,
    column_name  text,
    reason       text    NOT NULL,
    account_no   text
);
CREATE INDEX payment_rejections_import ON payment_rejections (import_id, row_number);
CREATE INDEX payments_import ON payments (import_id);

-- The periodic resolution looks at pending promises only.
CREATE INDEX promises_pending ON promises (due_date, case_id) WHERE status = 'pending';
