-- Quality assurance on transcripts: flags, per-client lexicons, monthly samples,
-- scorecards, reviews and the monthly compliance mark of a case.
--
-- qa_flags: the flags of a transcript (transcription/flags.py), replaced as a whole
-- when they are raised again (the call's action code may be filed after the
-- transcript is stored). text is the matched words as stored: redacted.
-- recording_id refers to recordings(id) without a foreign key (another package's
-- table), as transcripts do.
--
-- qa_samples: a recording picked for review in its month (once: UNIQUE), at random
-- within its agent's stratum or because it is flagged.
--
-- qa_scorecards: a client's QA form, versioned; items are
-- [{"key", "label", "weight", "auto_fail"}]. A review keeps the version it used.
-- qa_reviews: one per recording and reviewer; comments are [{"at": s, "text"}].
-- qa_compliance: per case and month, false once a review failed an auto-fail item
-- (a later passing review never makes it true again); the reports read it.

CREATE TABLE qa_flags (
    id            bigserial   PRIMARY KEY,
    recording_id  bigint      NOT NULL REFERENCES transcripts(recording_id),
    kind          text        NOT NULL CHECK (kind IN ('abusive', 'threat', 'impersonation',
                                  'third_party_disclosure', 'no_identity_disclosure',
                                  'number_spoken')),
    speaker       text        NOT NULL CHECK (speaker IN ('agent', 'debtor', 'mixed')),
    start_ms      integer     NOT NULL CHECK (start_ms >= 0),
    end_ms        integer     NOT NULL CHECK (end_ms >= start_ms),
    text          text        NOT NULL CHECK (length(text) <= 1000),
    term          text        NOT NULL DEFAULT '',
    raised_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX qa_flags_recording ON qa_flags (recording_id, start_ms);

CREATE TABLE qa_lexicons (
    client_id   bigint      PRIMARY KEY REFERENCES clients(id),
    lexicon     jsonb       NOT NULL CHECK (jsonb_typeof(lexicon) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE qa_samples (
    id            bigserial   PRIMARY KEY,
    month         date        NOT NULL CHECK (extract(day FROM month) = 1),
    recording_id  bigint      NOT NULL UNIQUE,
    agent_id      bigint      NOT NULL REFERENCES users(id),
    client_id     bigint      NOT NULL REFERENCES clients(id),
    reason        text        NOT NULL CHECK (reason IN ('random', 'flagged')),
    stratum       text        NOT NULL,
    seed          text        NOT NULL,
    sampled_at    timestamptz NOT NULL
);
CREATE INDEX qa_samples_month ON qa_samples (month, agent_id);

CREATE TABLE qa_scorecards (
    id          bigserial   PRIMARY KEY,
    client_id   bigint      NOT NULL REFERENCES clients(id),
    version     integer     NOT NULL CHECK (version >= 1),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    items       jsonb       NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    created_at  timestamptz NOT NULL,
    UNIQUE (client_id, version)
);

CREATE TABLE qa_reviews (
    id            bigserial     PRIMARY KEY,
    recording_id  bigint        NOT NULL,
    case_id       bigint        NOT NULL REFERENCES cases(id),
    client_id     bigint        NOT NULL REFERENCES clients(id),
    agent_id      bigint        REFERENCES users(id),
    scorecard_id  bigint        NOT NULL REFERENCES qa_scorecards(id),
    reviewer_id   bigint        NOT NULL REFERENCES users(id),
    answers       jsonb         NOT NULL CHECK (jsonb_typeof(answers) = 'object'),
    comments      jsonb         NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(comments) = 'array'),
    score         numeric(5,2)  NOT NULL CHECK (score BETWEEN 0 AND 100),
    auto_failed   text[]        NOT NULL DEFAULT '{}',
    month         date          NOT NULL CHECK (extract(day FROM month) = 1),
    created_at    timestamptz   NOT NULL,
    UNIQUE (recording_id, reviewer_id)
);
CREATE INDEX qa_reviews_month ON qa_reviews (month, agent_id);

CREATE TABLE qa_compliance (
    case_id       bigint      NOT NULL REFERENCES cases(id),
    month         date        NOT NULL CHECK (extract(day FROM month) = 1),
    client_id     bigint      NOT NULL REFERENCES clients(id),
    compliant     boolean     NOT NULL,
    failed_items  text[]      NOT NULL DEFAULT '{}',
    review_ids    bigint[]    NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (case_id, month)
);
