-- Cases offered to agents in preview campaigns: the agent reads the case, then
-- dials it or asks for the next one. A case previewed recently is not offered again.
CREATE TABLE previews (
    id           bigserial   PRIMARY KEY,
    campaign_id  bigint      NOT NULL REFERENCES campaigns(id),
    case_id      bigint      NOT NULL REFERENCES cases(id),
    agent_id     bigint      NOT NULL REFERENCES users(id),
    at           timestamptz NOT NULL
);
CREATE INDEX previews_case ON previews (case_id, at);
CREATE INDEX previews_agent ON previews (agent_id, at);
