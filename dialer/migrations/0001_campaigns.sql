-- Campaigns, the attempts they place (each with its compliance decision), refusals
-- and the per-phone hold-off the campaign loop honours.

CREATE TABLE campaigns (
    id                bigserial   PRIMARY KEY,
    client_id         bigint      NOT NULL REFERENCES clients(id),
    name              text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    state             text        NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'running',
                                      'paused', 'stopped', 'finished')),
    mode              text        NOT NULL CHECK (mode IN ('preview', 'progressive',
                                      'predictive')),
    rule_pack         text        NOT NULL,
    case_filter       jsonb       NOT NULL DEFAULT '{}',
    parties           text[]      NOT NULL DEFAULT '{debtor,guarantor}',
    work_lines        text[]      NOT NULL CHECK (cardinality(work_lines) > 0),
    queue_id          bigint,
    schedule          jsonb       NOT NULL,
    ring_timeout_s    integer     NOT NULL DEFAULT 25 CHECK (ring_timeout_s BETWEEN 15 AND 120),
    retry_policy      jsonb       NOT NULL,
    amd_policy        text        NOT NULL DEFAULT 'hang_up' CHECK (amd_policy IN ('off',
                                      'hang_up', 'message')),
    max_abandon_rate  numeric(5,4) NOT NULL DEFAULT 0.03 CHECK (max_abandon_rate BETWEEN 0 AND 0.03),
    created_by        bigint      REFERENCES users(id),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (client_id, name)
);
CREATE INDEX campaigns_running ON campaigns (id) WHERE state = 'running';

-- Every placed call. The row is written, with the decision that allowed it, before
-- the INVITE leaves; `ended_at IS NULL` marks a call still in progress.
CREATE TABLE attempts (
    id             bigserial   PRIMARY KEY,
    campaign_id    bigint      REFERENCES campaigns(id),
    case_id        bigint      NOT NULL REFERENCES cases(id),
    debtor_id      bigint      NOT NULL REFERENCES debtors(id),
    phone_id       bigint      NOT NULL REFERENCES phones(id),
    number         text        NOT NULL,
    party          text        NOT NULL,
    agent_id       bigint      REFERENCES users(id),
    work_line      text        NOT NULL,
    dialer         text        NOT NULL,
    call_id        text,
    placed_at      timestamptz NOT NULL,
    answered_at    timestamptz,
    ended_at       timestamptz,
    result         text        CHECK (result IN ('busy', 'no_answer', 'rejected', 'failed',
                                   'machine', 'voicemail', 'abandoned', 'hung_up',
                                   'connected', 'interrupted')),
    cause          text,
    right_party    boolean,
    amd            jsonb,
    decision       jsonb       NOT NULL,
    pack           text        NOT NULL,
    pack_version   text        NOT NULL,
    CHECK ((ended_at IS NULL) = (result IS NULL))
);
CREATE INDEX attempts_debtor ON attempts (debtor_id, placed_at);
CREATE INDEX attempts_number ON attempts (number, placed_at);
CREATE INDEX attempts_case ON attempts (case_id, placed_at);
CREATE INDEX attempts_campaign ON attempts (campaign_id, placed_at);
CREATE INDEX attempts_open ON attempts (dialer, id) WHERE ended_at IS NULL;

-- Candidates the check refused, with the decision; the loop does not lease the
-- phone again before `next_permitted_at` (or `recheck_at` when no time lifts it).
CREATE TABLE refusals (
    id                 bigserial   PRIMARY KEY,
    campaign_id        bigint      REFERENCES campaigns(id),
    case_id            bigint      NOT NULL REFERENCES cases(id),
    phone_id           bigint      NOT NULL REFERENCES phones(id),
    at                 timestamptz NOT NULL,
    reasons            text[]      NOT NULL,
    next_permitted_at  timestamptz,
    decision           jsonb       NOT NULL
);
CREATE INDEX refusals_campaign ON refusals (campaign_id, at);
CREATE INDEX refusals_case ON refusals (case_id, at);

CREATE TABLE phone_holdoff (
    phone_id   bigint      PRIMARY KEY REFERENCES phones(id),
    until      timestamptz NOT NULL
);
