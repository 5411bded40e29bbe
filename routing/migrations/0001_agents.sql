-- Agents (the routing side of an agent user), their skills, queues and queue members,
-- and the append-only history of the person's status. The system's *state* (reserved,
-- ringing, talking, wrap_up) is live only, in Redis; the *status* is durable here.

CREATE TABLE agents (
    user_id          bigint      PRIMARY KEY REFERENCES users(id),
    -- The SIP user of the agent's softphone; ':' would make the HA1 ambiguous.
    extension        text        NOT NULL UNIQUE CHECK (extension ~ '^[A-Za-z0-9_.-]{1,32}$'),
    -- MD5("extension:realm:password") in hex (RFC 2617 HA1); the password is never stored.
    sip_realm        text        NOT NULL CHECK (length(sip_realm) BETWEEN 1 AND 100
                                     AND position(':' IN sip_realm) = 0),
    sip_ha1          text        NOT NULL CHECK (sip_ha1 ~ '^[0-9a-f]{32}$'),
    -- mod_callcenter's agent parameters.
    wrap_up_time     interval    NOT NULL DEFAULT '30 seconds' CHECK (wrap_up_time >= '0'),
    no_answer_delay  interval    NOT NULL DEFAULT '30 seconds' CHECK (no_answer_delay >= '0'),
    max_no_answer    integer     NOT NULL DEFAULT 3 CHECK (max_no_answer >= 0),
    reject_delay     interval    NOT NULL DEFAULT '90 seconds' CHECK (reject_delay >= '0'),
    status           text        NOT NULL DEFAULT 'logged_out' CHECK (status IN ('logged_out',
                                     'available', 'on_break', 'after_call_work')),
    status_reason    text        CHECK ((status = 'on_break') = (status_reason IS NOT NULL)),
    status_since     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_skills (
    agent_id  bigint  NOT NULL REFERENCES agents(user_id) ON DELETE CASCADE,
    skill     text    NOT NULL CHECK (skill ~ '^[a-z0-9_-]{1,40}$'),
    level     integer NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (agent_id, skill)
);

-- campaign_id has no foreign key: the dialer owns campaigns (and points back with
-- campaigns.queue_id).
CREATE TABLE queues (
    id           bigserial   PRIMARY KEY,
    name         text        NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    campaign_id  bigint,
    strategy     text        NOT NULL DEFAULT 'longest_idle' CHECK (strategy IN
                                 ('longest_idle', 'round_robin', 'skills_weighted')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queues_campaign ON queues (campaign_id) WHERE campaign_id IS NOT NULL;

-- Skills an agent needs to take the queue's calls, at least at `level`.
CREATE TABLE queue_skills (
    queue_id  bigint  NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    skill     text    NOT NULL CHECK (skill ~ '^[a-z0-9_-]{1,40}$'),
    level     integer NOT NULL CHECK (level BETWEEN 1 AND 10),
    PRIMARY KEY (queue_id, skill)
);

-- mod_callcenter's tiers: level and position are kept for tiered offering; the
-- strategies in routing.strategies do not use them yet.
CREATE TABLE queue_members (
    queue_id  bigint  NOT NULL REFERENCES queues(id) ON DELETE CASCADE,
    agent_id  bigint  NOT NULL REFERENCES agents(user_id) ON DELETE CASCADE,
    level     integer NOT NULL DEFAULT 1 CHECK (level >= 1),
    position  integer NOT NULL DEFAULT 1 CHECK (position >= 1),
    PRIMARY KEY (queue_id, agent_id)
);
CREATE INDEX queue_members_agent ON queue_members (agent_id);

-- Every change of the person's status: who made it (the agent, a supervisor, or the
-- system: max_no_answer, a rebuild), from which status to which, why, when.
CREATE TABLE agent_status_log (
    id           bigserial   PRIMARY KEY,
    agent_id     bigint      NOT NULL REFERENCES agents(user_id),
    source       text        NOT NULL CHECK (source IN ('self', 'supervisor', 'system')),
    changed_by   bigint      REFERENCES users(id),
    from_status  text        NOT NULL,
    to_status    text        NOT NULL,
    reason       text,
    at           timestamptz NOT NULL,
    CHECK ((source = 'system') = (changed_by IS NULL))
);
CREATE INDEX agent_status_log_agent ON agent_status_log (agent_id, at);

CREATE FUNCTION agent_status_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'agent_status_log is append-only';
END $$;
CREATE TRIGGER agent_status_log_append_only BEFORE UPDATE OR DELETE ON agent_status_log
    FOR EACH ROW EXECUTE FUNCTION agent_status_log_append_only();
