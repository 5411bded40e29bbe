-- Case records: clients (banks), staff, batches, debtors, cases, phones, holds.

CREATE TABLE clients (
    id               bigserial   PRIMARY KEY,
    code             text        NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name             text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone        text        NOT NULL,
    default_region   text        NOT NULL DEFAULT 'CN' CHECK (default_region ~ '^[A-Z]{2}$'),
    rule_pack        text        NOT NULL DEFAULT 'cn-bank',
    retention_years  integer     NOT NULL DEFAULT 5 CHECK (retention_years BETWEEN 1 AND 30),
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             bigserial   PRIMARY KEY,
    username       text        NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{2,64}$'),
    display_name   text        NOT NULL,
    role           text        NOT NULL CHECK (role IN ('admin', 'campaign_manager',
                                   'supervisor', 'agent', 'qa', 'client_auditor')),
    client_id      bigint      REFERENCES clients(id),
    team           text,
    pii_clearance  boolean     NOT NULL DEFAULT false,
    password_hash  text        NOT NULL,
    active         boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'client_auditor') = (client_id IS NOT NULL))
);

CREATE TABLE batches (
    id              bigserial     PRIMARY KEY,
    client_id       bigint        NOT NULL REFERENCES clients(id),
    file_name       text          NOT NULL,
    file_sha256     text          NOT NULL CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    encoding        text          NOT NULL,
    received_at     timestamptz   NOT NULL,
    imported_at     timestamptz   NOT NULL,
    imported_by     bigint        REFERENCES users(id),
    rows_read       integer       NOT NULL,
    rows_accepted   integer       NOT NULL,
    rows_rejected   integer       NOT NULL,
    cases_created   integer       NOT NULL,
    cases_updated   integer       NOT NULL,
    total_balance   numeric(18,2) NOT NULL,
    UNIQUE (client_id, file_sha256)
);

CREATE TABLE batch_rejections (
    batch_id     bigint  NOT NULL REFERENCES batches(id),
    row_number   integer NOT NULL,
    column_name  text,
    reason       text    NOT NULL,
    account_no   text
);
CREATE INDEX batch_rejections_batch ON batch_rejections (batch_id, row_number);

CREATE TABLE debtors (
    id           bigserial   PRIMARY KEY,
    client_id    bigint      NOT NULL REFERENCES clients(id),
    name         text        NOT NULL,
    id_no        text        NOT NULL,
    address      text,
    city         text,
    time_zone    text,
    employer     text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, id_no)
);

CREATE TABLE cases (
    id                   bigserial     PRIMARY KEY,
    client_id            bigint        NOT NULL REFERENCES clients(id),
    account_no           text          NOT NULL,
    debtor_id            bigint        NOT NULL REFERENCES debtors(id),
    first_batch_id       bigint        NOT NULL REFERENCES batches(id),
    last_batch_id        bigint        NOT NULL REFERENCES batches(id),
    product              text          NOT NULL CHECK (product IN ('credit_card', 'personal_loan')),
    account_type         text          NOT NULL DEFAULT 'on_balance' CHECK (account_type IN
                                           ('on_balance', 'written_off', 'transferred', 'securitized')),
    currency             char(3)       NOT NULL DEFAULT 'CNY',
    principal            numeric(18,2) CHECK (principal >= 0),
    balance              numeric(18,2) NOT NULL CHECK (balance >= 0),
    days_past_due        integer       NOT NULL CHECK (days_past_due >= 0),
    bucket               text          GENERATED ALWAYS AS (CASE
                             WHEN days_past_due = 0 THEN 'M0'
                             WHEN days_past_due <= 30 THEN 'M1'
                             WHEN days_past_due <= 60 THEN 'M2'
                             WHEN days_past_due <= 90 THEN 'M3'
                             WHEN days_past_due <= 120 THEN 'M4'
                             WHEN days_past_due <= 150 THEN 'M5'
                             WHEN days_past_due <= 180 THEN 'M6'
                             ELSE 'M6+' END) STORED,
    last_payment_date    date,
    last_payment_amount  numeric(18,2),
    note                 text,
    status               text          NOT NULL DEFAULT 'open' CHECK (status IN ('open',
                             'in_progress', 'promised', 'on_hold', 'lost_contact', 'legal',
                             'paid', 'closed')),
    priority             integer       NOT NULL DEFAULT 0,
    assigned_agent_id    bigint        REFERENCES users(id),
    assigned_at          timestamptz,
    next_action_at       timestamptz,
    created_at           timestamptz   NOT NULL DEFAULT now(),
    updated_at           timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (client_id, account_no)
);
CREATE INDEX cases_status ON cases (client_id, status, id);
CREATE INDEX cases_agent ON cases (assigned_agent_id, id) WHERE assigned_agent_id IS NOT NULL;
CREATE INDEX cases_bucket ON cases (client_id, bucket, id);
CREATE INDEX cases_debtor ON cases (debtor_id);

CREATE TABLE phones (
    id            bigserial   PRIMARY KEY,
    case_id       bigint      NOT NULL REFERENCES cases(id),
    e164          text        NOT NULL CHECK (e164 ~ '^\+[1-9][0-9]{6,14}$'),
    party         text        NOT NULL CHECK (party IN ('debtor', 'guarantor', 'relative',
                                  'employer', 'other')),
    kind          text        NOT NULL CHECK (kind IN ('mobile', 'home', 'work')),
    name          text,
    relation      text,
    validity      text        NOT NULL DEFAULT 'unknown' CHECK (validity IN ('unknown',
                                  'valid', 'invalid')),
    consent_notes text,
    source_batch_id bigint    REFERENCES batches(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, e164)
);

-- A case is on hold (no contact) while it has an unreleased hold.
CREATE TABLE case_holds (
    id           bigserial   PRIMARY KEY,
    case_id      bigint      NOT NULL REFERENCES cases(id),
    reason       text        NOT NULL CHECK (reason IN ('dispute', 'fraud', 'deceased',
                                 'legal', 'cease', 'bank_request')),
    placed_at    timestamptz NOT NULL,
    placed_by    bigint      REFERENCES users(id),
    action_id    bigint,
    note         text,
    released_at  timestamptz,
    released_by  bigint      REFERENCES users(id)
);
CREATE INDEX case_holds_active ON case_holds (case_id) WHERE released_at IS NULL;
