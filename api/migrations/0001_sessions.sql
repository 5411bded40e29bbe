-- Login sessions: only the SHA-256 of a token is stored.
CREATE TABLE api_sessions (
    token_sha256  text        PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users(id),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    ip            text
);
CREATE INDEX api_sessions_user ON api_sessions (user_id);
