-- The recordings catalogue: one row per finished recording, chained for tamper
-- evidence (recording/chain.py), and the log of deleted recordings.
--
-- row_hash = sha256 of the canonical form of the row's immutable columns and
-- prev_hash, the row_hash of the row before it in id order ('0' x 64 for the first).
-- Rows are appended one at a time under an advisory lock (recording/catalog.py), so
-- ids, commits and the chain have one order. Rows are never deleted: a deleted
-- recording keeps its row with state 'deleted' and a recording_deletions entry.

CREATE TABLE recordings (
    id                 bigserial   PRIMARY KEY,
    call_id            text        NOT NULL UNIQUE CHECK (length(call_id) BETWEEN 1 AND 200),
    attempt_id         bigint,     -- the dialer's attempt; no foreign key across packages
    case_id            bigint      NOT NULL REFERENCES cases(id),
    client_id          bigint      NOT NULL REFERENCES clients(id),
    agent_id           bigint      REFERENCES users(id),
    campaign_id        bigint,     -- the dialer's campaign; no foreign key either
    started_at         timestamptz NOT NULL,
    duration_ms        bigint      NOT NULL CHECK (duration_ms >= 0),
    size_bytes         bigint      NOT NULL CHECK (size_bytes >= 44),
    channels           smallint    NOT NULL CHECK (channels BETWEEN 1 AND 8),
    sample_rate        integer     NOT NULL CHECK (sample_rate > 0),
    sha256             text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_uri        text        NOT NULL UNIQUE,
    state              text        NOT NULL CHECK (state IN ('recording', 'finished',
                                       'recovered', 'failed', 'deleted')),
    retention_until    timestamptz NOT NULL,
    legal_hold         boolean     NOT NULL DEFAULT false,
    legal_hold_by      bigint      REFERENCES users(id),
    legal_hold_at      timestamptz,
    legal_hold_reason  text        CHECK (length(legal_hold_reason) BETWEEN 1 AND 500),
    pci_pauses         jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(pci_pauses) = 'array'),
    marks              jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(marks) = 'array'),
    prev_hash          text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    row_hash           text        NOT NULL UNIQUE CHECK (row_hash ~ '^[0-9a-f]{64}$'),
    created_at         timestamptz NOT NULL,
    CHECK (legal_hold = (legal_hold_at IS NOT NULL)),
    CHECK (legal_hold = (legal_hold_reason IS NOT NULL)),
    CHECK (legal_hold_by IS NULL OR legal_hold)
);
CREATE INDEX recordings_case ON recordings (case_id, id);
CREATE INDEX recordings_client ON recordings (client_id, started_at);
CREATE INDEX recordings_agent ON recordings (agent_id, id) WHERE agent_id IS NOT NULL;
CREATE INDEX recordings_due ON recordings (retention_until)
    WHERE state IN ('finished', 'recovered', 'failed');

-- The chained columns never change: the database refuses it; a change made behind
-- its back (triggers disabled) is what `callcase recordings verify` finds.
CREATE FUNCTION recordings_keep_chained() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.call_id, NEW.attempt_id, NEW.case_id, NEW.client_id, NEW.agent_id,
        NEW.campaign_id, NEW.started_at, NEW.duration_ms, NEW.size_bytes, NEW.channels,
        NEW.sample_rate, NEW.sha256, NEW.storage_uri, NEW.retention_until, NEW.pci_pauses,
        NEW.marks, NEW.prev_hash, NEW.row_hash, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.call_id, OLD.attempt_id, OLD.case_id, OLD.client_id, OLD.agent_id,
        OLD.campaign_id, OLD.started_at, OLD.duration_ms, OLD.size_bytes, OLD.channels,
        OLD.sample_rate, OLD.sha256, OLD.storage_uri, OLD.retention_until, OLD.pci_pauses,
        OLD.marks, OLD.prev_hash, OLD.row_hash, OLD.created_at) THEN
        RAISE EXCEPTION 'recordings: chained columns cannot change'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER recordings_chained_columns BEFORE UPDATE ON recordings
    FOR EACH ROW EXECUTE FUNCTION recordings_keep_chained();
CREATE TRIGGER recordings_kept BEFORE DELETE ON recordings
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE TABLE recording_deletions (
    id            bigserial   PRIMARY KEY,
    recording_id  bigint      NOT NULL UNIQUE REFERENCES recordings(id),
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_uri   text        NOT NULL,
    reason        text        NOT NULL CHECK (reason IN ('retention', 'offboard')),
    file_found    boolean     NOT NULL,
    deleted_at    timestamptz NOT NULL,
    deleted_by    bigint      REFERENCES users(id)
);

CREATE TRIGGER recording_deletions_append_only BEFORE UPDATE OR DELETE
    ON recording_deletions FOR EACH ROW EXECUTE FUNCTION refuse_change();
