-- Approval requests: the bank's reserved decisions (fee or interest waivers,
-- settlements, instalment restructuring, collateral handling, litigation steps).
-- An agent or supervisor files a request with the terms; the bank's auditor
-- approves or rejects it; an action code that needs an approval is filed only
-- with an approved, unexpired, unused request of the same case and kind, and
-- using it marks it used by that action. Rules: cases/approval_rules.py.

CREATE TABLE approval_requests (
    id                 bigserial     PRIMARY KEY,
    case_id            bigint        NOT NULL REFERENCES cases(id),
    client_id          bigint        NOT NULL REFERENCES clients(id),
    kind               text          NOT NULL CHECK (kind IN ('fee_waiver', 'interest_waiver',
                                         'settlement', 'restructuring', 'collateral',
                                         'litigation')),
    balance            numeric(18,2) NOT NULL CHECK (balance >= 0),  -- when requested
    waived_amount      numeric(18,2) CHECK (waived_amount > 0),
    settle_amount      numeric(18,2) CHECK (settle_amount > 0),
    instalments        integer       CHECK (instalments BETWEEN 2 AND 36),
    instalment_amount  numeric(18,2) CHECK (instalment_amount > 0),
    -- settlement: the settled amount is paid by this day at the latest;
    -- restructuring: the first instalment falls due on this day.
    due_date           date,
    description        text          CHECK (length(description) BETWEEN 1 AND 4000),
    amount             numeric(18,2) CHECK (amount > 0),
    reason             text          NOT NULL CHECK (length(reason) BETWEEN 1 AND 4000),
    status             text          NOT NULL DEFAULT 'requested' CHECK (status IN ('requested',
                                         'approved', 'rejected', 'withdrawn', 'used',
                                         'expired')),
    requested_by       bigint        NOT NULL REFERENCES users(id),
    requested_at       timestamptz   NOT NULL,
    decided_by         bigint        REFERENCES users(id),
    decided_at         timestamptz,
    decision_note      text          CHECK (length(decision_note) BETWEEN 1 AND 4000),
    withdrawn_by       bigint        REFERENCES users(id),
    withdrawn_at       timestamptz,
    -- an undecided request lapses at this time; once approved, the approval does
    expires_at         timestamptz   NOT NULL,
    used_by_action_id  bigint        UNIQUE REFERENCES actions(id),
    used_at            timestamptz,
    CHECK (kind NOT IN ('fee_waiver', 'interest_waiver') OR waived_amount IS NOT NULL),
    CHECK (kind <> 'settlement' OR (settle_amount IS NOT NULL AND due_date IS NOT NULL)),
    CHECK (kind <> 'restructuring' OR (instalments IS NOT NULL
                                       AND instalment_amount IS NOT NULL
                                       AND due_date IS NOT NULL)),
    CHECK (kind NOT IN ('collateral', 'litigation') OR description IS NOT NULL),
    CHECK ((status = 'used') = (used_by_action_id IS NOT NULL)),
    CHECK ((status IN ('approved', 'rejected', 'used')) = (decided_at IS NOT NULL)
           OR (status = 'expired'))
);
CREATE INDEX approval_requests_case ON approval_requests (case_id, id);
CREATE INDEX approval_requests_client ON approval_requests (client_id, status, id);
CREATE INDEX approval_requests_open ON approval_requests (expires_at)
    WHERE status IN ('requested', 'approved');
-- One undecided request of a kind per case: the bank is not asked twice at once.
CREATE UNIQUE INDEX approval_requests_one_pending ON approval_requests (case_id, kind)
    WHERE status = 'requested';

ALTER TABLE action_codes ADD COLUMN needs_approval text CHECK (needs_approval IN
    ('fee_waiver', 'interest_waiver', 'settlement', 'restructuring', 'collateral',
     'litigation'));

INSERT INTO action_codes (code, category, label_en, label_zh, connected, right_party,
    required_fields, status_after, retry_after_hours, hold_reason, creates_promise,
    invalidates_phone, field_visit, notify_client, needs_approval) VALUES
 ('SETL',  'contact', 'Settlement promise (bank approved)',       '和解还款承诺（银行已批准）', true,  true,  '{amount,due_date,approval_id}', 'promised',    NULL, NULL,         true,  false, false, NULL, 'settlement'),
 ('INST',  'contact', 'Instalment plan agreed (bank approved)',   '分期还款协议（银行已批准）', true,  true,  '{amount,due_date,approval_id}', 'promised',    NULL, NULL,         true,  false, false, NULL, 'restructuring'),
 ('WAIVF', 'contact', 'Fee waiver agreed (bank approved)',        '减免费用（银行已批准）',     true,  true,  '{approval_id}',                'in_progress', 72,   NULL,         false, false, false, NULL, 'fee_waiver'),
 ('WAIVI', 'contact', 'Interest waiver agreed (bank approved)',   '减免利息（银行已批准）',     true,  true,  '{approval_id}',                'in_progress', 72,   NULL,         false, false, false, NULL, 'interest_waiver'),
 ('COLL',  'contact', 'Collateral handling agreed (bank approved)', '抵押物处置（银行已批准）', true,  true,  '{approval_id,note}',           'in_progress', 72,   NULL,         false, false, false, NULL, 'collateral'),
 ('LITG',  'closure', 'Litigation step (bank approved)',          '诉讼程序（银行已批准）',     false, false, '{approval_id,note}',           'legal',       NULL, 'legal',      false, false, false, NULL, 'litigation');
