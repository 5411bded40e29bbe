-- What the month-end reports (api/reports.py) count of a month's recordings, read
-- from one index: the recorded calls of agents, and of those the sampled and reviewed.
--
-- sampled, reviewed: whether QA sampled the recording (it has a qa_samples row) and
-- reviewed it (a qa_reviews row). The transcription package keeps and fills both,
-- with triggers on its two tables (transcription/migrations/0003_qa_marks.sql), so
-- they stay right whoever writes a sample or a review. Neither is chained: the
-- catalogue's hash chain (recording/chain.py) does not cover them.

ALTER TABLE recordings ADD COLUMN sampled boolean NOT NULL DEFAULT false,
                       ADD COLUMN reviewed boolean NOT NULL DEFAULT false;

-- A client's recordings by start, as before, now with what QA coverage groups and
-- counts by: a month's recordings are read from the index alone.
DROP INDEX recordings_client;
CREATE INDEX recordings_client ON recordings (client_id, started_at)
    INCLUDE (agent_id, campaign_id, case_id, state, sampled, reviewed);
