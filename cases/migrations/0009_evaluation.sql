-- Monthly agent evaluations (score, tier, rank, elimination flag, allocation weight),
-- the parameters each client evaluates with, agents' caseload caps, and the log of
-- batch allocations. Rules: cases/evaluation.py and cases/allocation.py.

-- A client's evaluation parameters (cases.evaluation.EvaluationParams as JSON);
-- a client without a row is evaluated with the defaults.
CREATE TABLE evaluation_settings (
    client_id   bigint      PRIMARY KEY REFERENCES clients(id),
    parameters  jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL,
    updated_by  bigint      REFERENCES users(id)
);

-- One evaluation per client and month. A draft is replaced by computing again; a
-- published evaluation never changes (the triggers below refuse it).
CREATE TABLE evaluations (
    id                 bigserial   PRIMARY KEY,
    client_id          bigint      NOT NULL REFERENCES clients(id),
    month              date        NOT NULL CHECK (extract(day FROM month) = 1),
    cycle              integer     NOT NULL CHECK (cycle >= 1),
    elimination_cycle  boolean     NOT NULL,
    status             text        NOT NULL DEFAULT 'draft'
                                       CHECK (status IN ('draft', 'published')),
    parameters         jsonb       NOT NULL,
    computed_at        timestamptz NOT NULL,
    computed_by        bigint      REFERENCES users(id),
    published_at       timestamptz,
    published_by       bigint      REFERENCES users(id),
    UNIQUE (client_id, month),
    CHECK ((status = 'published') = (published_at IS NOT NULL)),
    CHECK (elimination_cycle = (cycle % 2 = 0))
);
CREATE INDEX evaluations_published ON evaluations (client_id, month DESC)
    WHERE status = 'published';

CREATE TABLE evaluation_rows (
    evaluation_id            bigint        NOT NULL REFERENCES evaluations(id) ON DELETE CASCADE,
    agent_id                 bigint        NOT NULL REFERENCES users(id),
    accounts                 integer       NOT NULL CHECK (accounts >= 0),
    compliant_accounts       integer       NOT NULL CHECK (compliant_accounts BETWEEN 0 AND accounts),
    amount_assigned          numeric(18,2) NOT NULL CHECK (amount_assigned >= 0),
    amount_recovered         numeric(18,2) NOT NULL CHECK (amount_recovered >= 0),
    recovery_rate            numeric       CHECK (recovery_rate >= 0),
    compliance_rate          numeric(6,4)  CHECK (compliance_rate BETWEEN 0 AND 1),
    recovery_index           numeric(6,4)  CHECK (recovery_index BETWEEN 0 AND 1),
    score                    numeric(5,2)  CHECK (score BETWEEN 0 AND 100),
    tier                     text          CHECK (tier IN ('excellent', 'good', 'qualified',
                                               'below')),
    rank                     integer       CHECK (rank >= 1),
    compliance_gated         boolean       NOT NULL DEFAULT false,
    flagged_for_elimination  boolean       NOT NULL DEFAULT false,
    not_rated_reason         text          CHECK (not_rated_reason IN ('too_few_accounts',
                                               'nothing_assigned')),
    allocation_weight        numeric(6,3)  NOT NULL CHECK (allocation_weight > 0),
    PRIMARY KEY (evaluation_id, agent_id),
    -- Rated: a score, a tier and a rank; not rated: none of them and never flagged.
    CHECK ((not_rated_reason IS NULL) = (score IS NOT NULL)),
    CHECK ((score IS NULL) = (tier IS NULL) AND (score IS NULL) = (rank IS NULL)),
    CHECK (NOT (flagged_for_elimination AND not_rated_reason IS NOT NULL))
);
CREATE INDEX evaluation_rows_agent ON evaluation_rows (agent_id);

CREATE FUNCTION evaluations_published_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'published' THEN
        RAISE EXCEPTION 'evaluation % is published and cannot change', OLD.id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER evaluations_published_immutable BEFORE UPDATE OR DELETE ON evaluations
    FOR EACH ROW EXECUTE FUNCTION evaluations_published_immutable();

CREATE FUNCTION evaluation_rows_published_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target bigint := CASE WHEN TG_OP = 'INSERT' THEN NEW.evaluation_id
                          ELSE OLD.evaluation_id END;
BEGIN
    IF EXISTS (SELECT 1 FROM evaluations WHERE id = target AND status = 'published') THEN
        RAISE EXCEPTION 'evaluation % is published and cannot change', target
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER evaluation_rows_published_immutable
    BEFORE INSERT OR UPDATE OR DELETE ON evaluation_rows
    FOR EACH ROW EXECUTE FUNCTION evaluation_rows_published_immutable();

-- Open cases an agent may hold; an agent without a row has the default cap
-- (cases.allocation.DEFAULT_CASELOAD_CAP, the same 300 as the column default).
CREATE TABLE agent_caseload_caps (
    agent_id    bigint      PRIMARY KEY REFERENCES users(id),
    cap         integer     NOT NULL DEFAULT 300 CHECK (cap BETWEEN 0 AND 100000),
    updated_at  timestamptz NOT NULL,
    updated_by  bigint      REFERENCES users(id)
);

-- Append-only: one row per agent that received cases in one allocation of a batch.
-- evaluation_id: the published evaluation whose weights were used (NULL: none yet).
CREATE TABLE allocations (
    id             bigserial     PRIMARY KEY,
    batch_id       bigint        NOT NULL REFERENCES batches(id),
    agent_id       bigint        NOT NULL REFERENCES users(id),
    cases          integer       NOT NULL CHECK (cases > 0),
    balance        numeric(18,2) NOT NULL CHECK (balance >= 0),
    weight         numeric(6,3)  NOT NULL CHECK (weight > 0),
    evaluation_id  bigint        REFERENCES evaluations(id),
    allocated_at   timestamptz   NOT NULL,
    allocated_by   bigint        REFERENCES users(id)
);
CREATE INDEX allocations_batch ON allocations (batch_id, id);
CREATE INDEX allocations_agent ON allocations (agent_id, allocated_at);

CREATE TRIGGER allocations_append_only BEFORE UPDATE OR DELETE ON allocations
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
