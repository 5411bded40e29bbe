-- Transcription: the job queue and the transcripts.
--
-- transcription_jobs: one job per recording (at-least-once). A worker leases the
-- oldest runnable job (queued, or leased with an expired lease) with
-- FOR UPDATE SKIP LOCKED and sets leased_until; a worker that dies mid-job leaves
-- the lease to expire and another worker takes the job. After max attempts a job
-- is failed. recording_id has no foreign key: recordings belong to another package.
--
-- transcripts: stored once per recording (UNIQUE; workers insert with ON CONFLICT
-- DO NOTHING). text, words and dialogue are redacted before they are written.

CREATE TABLE transcription_jobs (
    id            bigserial   PRIMARY KEY,
    recording_id  bigint      NOT NULL UNIQUE,
    audio_uri     text        NOT NULL CHECK (length(audio_uri) BETWEEN 1 AND 1000),
    state         text        NOT NULL DEFAULT 'queued'
                              CHECK (state IN ('queued', 'leased', 'done', 'failed')),
    attempts      integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    leased_until  timestamptz,
    worker        text,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    CHECK ((state = 'leased') = (leased_until IS NOT NULL))
);
CREATE INDEX transcription_jobs_runnable ON transcription_jobs (id)
    WHERE state IN ('queued', 'leased');

CREATE TABLE transcripts (
    id            bigserial   PRIMARY KEY,
    recording_id  bigint      NOT NULL UNIQUE,
    engine        text        NOT NULL,
    model         text        NOT NULL,
    duration_ms   bigint      NOT NULL CHECK (duration_ms >= 0),
    text          text        NOT NULL,
    words         jsonb       NOT NULL CHECK (jsonb_typeof(words) = 'array'),
    dialogue      jsonb       NOT NULL CHECK (jsonb_typeof(dialogue) = 'array'),
    metrics       jsonb       NOT NULL CHECK (jsonb_typeof(metrics) = 'object'),
    redactions    jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(redactions) = 'array'),
    search        tsvector    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    worker        text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transcripts_search ON transcripts USING gin (search);
