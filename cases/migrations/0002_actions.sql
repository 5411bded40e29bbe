-- Action codes, the append-only actions log, promises, field-visit requests,
-- the outbox of notifications to the bank, and the append-only audit log.

CREATE TABLE action_codes (
    code               text     PRIMARY KEY CHECK (code ~ '^[A-Z]{2,8}$'),
    category           text     NOT NULL CHECK (category IN ('contact', 'no_contact',
                                    'third_party', 'dispute', 'closure', 'lost_contact')),
    label_en           text     NOT NULL,
    label_zh           text     NOT NULL,
    connected          boolean  NOT NULL,
    right_party        boolean  NOT NULL,
    required_fields    text[]   NOT NULL DEFAULT '{}',
    status_after       text,
    retry_after_hours  integer,
    hold_reason        text,
    creates_promise    boolean  NOT NULL DEFAULT false,
    invalidates_phone  boolean  NOT NULL DEFAULT false,
    field_visit        boolean  NOT NULL DEFAULT false,
    notify_client      text,
    active             boolean  NOT NULL DEFAULT true
);

INSERT INTO action_codes (code, category, label_en, label_zh, connected, right_party,
    required_fields, status_after, retry_after_hours, hold_reason, creates_promise,
    invalidates_phone, field_visit, notify_client) VALUES
 ('PTP',  'contact',      'Promise to pay',                      '承诺还款',     true,  true,  '{amount,due_date}', 'promised',     NULL, NULL,       true,  false, false, NULL),
 ('RPC',  'contact',      'Right party contact, no promise',     '本人接听未承诺', true,  true,  '{}',                'in_progress',  72,   NULL,       false, false, false, NULL),
 ('PAID', 'contact',      'Claims already paid',                 '声称已还款',   true,  true,  '{}',                'in_progress',  48,   NULL,       false, false, false, 'payment_claim'),
 ('TPC',  'third_party',  'Third party contacted',               '第三方接听',   true,  false, '{}',                'in_progress',  24,   NULL,       false, false, false, NULL),
 ('WN',   'no_contact',   'Wrong number',                        '号码错误',     true,  false, '{}',                NULL,           0,    NULL,       false, true,  false, NULL),
 ('NA',   'no_contact',   'No answer',                           '无人接听',     false, false, '{}',                NULL,           4,    NULL,       false, false, false, NULL),
 ('BUSY', 'no_contact',   'Busy',                                '占线',         false, false, '{}',                NULL,           1,    NULL,       false, false, false, NULL),
 ('VM',   'no_contact',   'Voicemail or answering machine',      '语音信箱',     false, false, '{}',                NULL,           24,   NULL,       false, false, false, NULL),
 ('HU',   'contact',      'Hung up',                             '挂断',         true,  false, '{}',                'in_progress',  24,   NULL,       false, false, false, NULL),
 ('DSP',  'dispute',      'Dispute: denies the card or disputes the amount', '异议：否认持卡或金额', true, true, '{statement}', 'on_hold', NULL, 'dispute', false, false, false, 'dispute'),
 ('FRD',  'dispute',      'Suspected fraud or identity theft',   '疑似欺诈冒用', true,  true,  '{statement}',       'on_hold',      NULL, 'fraud',    false, false, false, 'fraud'),
 ('SKIP', 'lost_contact', 'Lost contact: field visit request',   '失联：申请外访', false, false, '{}',               'lost_contact', NULL, NULL,       false, false, true,  NULL),
 ('CB',   'contact',      'Callback requested',                  '约定回拨',     true,  true,  '{callback_at}',     'in_progress',  NULL, NULL,       false, false, false, NULL),
 ('REF',  'contact',      'Refuses to pay',                      '拒绝还款',     true,  true,  '{}',                'in_progress',  72,   NULL,       false, false, false, NULL),
 ('DEC',  'closure',      'Debtor deceased',                     '债务人已故',   true,  false, '{note}',            'on_hold',      NULL, 'deceased', false, false, false, 'deceased'),
 ('LEG',  'closure',      'Legal review',                        '转法务审核',   false, false, '{note}',            'legal',        NULL, 'legal',    false, false, false, 'legal_review');

CREATE TABLE actions (
    id               bigserial   PRIMARY KEY,
    case_id          bigint      NOT NULL REFERENCES cases(id),
    code             text        NOT NULL REFERENCES action_codes(code),
    user_id          bigint      REFERENCES users(id),
    phone_id         bigint      REFERENCES phones(id),
    attempt_id       bigint,
    idempotency_key  text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    note             text,
    fields           jsonb       NOT NULL DEFAULT '{}',
    effect           jsonb       NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    UNIQUE (case_id, idempotency_key)
);
CREATE INDEX actions_case ON actions (case_id, id);

CREATE TABLE promises (
    id           bigserial     PRIMARY KEY,
    case_id      bigint        NOT NULL REFERENCES cases(id),
    action_id    bigint        NOT NULL UNIQUE REFERENCES actions(id),
    amount       numeric(18,2) NOT NULL CHECK (amount > 0),
    due_date     date          NOT NULL,
    status       text          NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'kept',
                                   'broken', 'cancelled')),
    created_at   timestamptz   NOT NULL,
    resolved_at  timestamptz
);
CREATE INDEX promises_case ON promises (case_id);

CREATE TABLE field_visit_requests (
    id          bigserial   PRIMARY KEY,
    case_id     bigint      NOT NULL REFERENCES cases(id),
    action_id   bigint      REFERENCES actions(id),
    reason      text        NOT NULL,
    status      text        NOT NULL DEFAULT 'requested',
    created_at  timestamptz NOT NULL
);

CREATE TABLE client_notifications (
    id            bigserial   PRIMARY KEY,
    client_id     bigint      NOT NULL REFERENCES clients(id),
    case_id       bigint      REFERENCES cases(id),
    kind          text        NOT NULL,
    payload       jsonb       NOT NULL,
    created_at    timestamptz NOT NULL,
    delivered_at  timestamptz
);

CREATE TABLE audit_log (
    id           bigserial   PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    user_id      bigint,
    username     text,
    role         text,
    client_id    bigint,
    action       text        NOT NULL,
    record_type  text,
    record_id    text,
    ip           text,
    request_id   text,
    details      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_client ON audit_log (client_id, id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER actions_append_only BEFORE UPDATE OR DELETE ON actions
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
