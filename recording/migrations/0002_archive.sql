-- Recordings compressed losslessly for archiving (recording/archive.py): one row per
-- recording whose WAV was replaced by a FLAC, written in the transaction that deletes
-- the WAV and only after the FLAC was decoded and compared sample for sample with it.
--
-- The chained row of the recording is unchanged: its sha256 is still that of the WAV
-- bytes, and `callcase recordings verify` proves it from the FLAC alone (the WAV is
-- the recorder's canonical header followed by the samples, so it is rebuilt exactly).
-- sha256 and size_bytes here are the FLAC file's (to tell a rewritten archive from
-- one that no longer decodes to the recording); pcm_sha256 is that of the samples.
-- Append-only: an archive deleted by retention keeps its row, like the recording's,
-- and its deletion is in recording_deletions.

CREATE TABLE recording_archives (
    recording_id   bigint      PRIMARY KEY REFERENCES recordings(id),
    format         text        NOT NULL CHECK (format IN ('flac')),
    storage_uri    text        NOT NULL UNIQUE,
    size_bytes     bigint      NOT NULL CHECK (size_bytes > 0),
    sha256         text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    pcm_sha256     text        NOT NULL CHECK (pcm_sha256 ~ '^[0-9a-f]{64}$'),
    encoder        text        NOT NULL CHECK (length(encoder) BETWEEN 1 AND 100),
    compressed_at  timestamptz NOT NULL
);

CREATE TRIGGER recording_archives_append_only BEFORE UPDATE OR DELETE
    ON recording_archives FOR EACH ROW EXECUTE FUNCTION refuse_change();
