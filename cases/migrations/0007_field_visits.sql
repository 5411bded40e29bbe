-- Field visits: a request (made when a case is lost-contact) is planned with a date,
-- an address and two collectors, visited (a result), evidenced (photos, recordings,
-- signed reports) and closed; or cancelled by a supervisor before the visit.
-- The states and their rules: cases/field_visit_rules.py. 30% of each client's
-- visits closed in a month are sampled for QA (field_visit_samples).

ALTER TABLE field_visit_requests
    ADD COLUMN planned_for    date,
    ADD COLUMN address        text CHECK (length(address) BETWEEN 1 AND 500),
    ADD COLUMN collector_a    bigint REFERENCES users(id),
    ADD COLUMN collector_b    bigint REFERENCES users(id),
    ADD COLUMN planned_by     bigint REFERENCES users(id),
    ADD COLUMN planned_at     timestamptz,
    ADD COLUMN result         text CHECK (result IN ('met_debtor', 'not_home', 'moved',
                                  'address_invalid', 'refused', 'promise', 'other')),
    ADD COLUMN result_notes   text CHECK (length(result_notes) <= 4000),
    ADD COLUMN visited_at     timestamptz,
    ADD COLUMN result_by      bigint REFERENCES users(id),
    ADD COLUMN closed_at      timestamptz,
    ADD COLUMN closed_by      bigint REFERENCES users(id),
    ADD COLUMN cancelled_at   timestamptz,
    ADD COLUMN cancelled_by   bigint REFERENCES users(id),
    ADD COLUMN cancel_reason  text CHECK (length(cancel_reason) BETWEEN 1 AND 1000),
    ADD CONSTRAINT field_visit_status CHECK (status IN ('requested', 'planned', 'visited',
        'closed', 'cancelled')),
    -- two collectors or none, never the same person twice
    ADD CONSTRAINT field_visit_collectors CHECK ((collector_a IS NULL AND collector_b IS NULL)
        OR (collector_a IS NOT NULL AND collector_b IS NOT NULL AND collector_a <> collector_b)),
    -- planned and later: a date, an address and both collectors
    ADD CONSTRAINT field_visit_planned CHECK (status IN ('requested', 'cancelled')
        OR (planned_for IS NOT NULL AND address IS NOT NULL AND collector_a IS NOT NULL)),
    -- visited and closed: a result and when
    ADD CONSTRAINT field_visit_visited CHECK (status NOT IN ('visited', 'closed')
        OR (result IS NOT NULL AND visited_at IS NOT NULL)),
    ADD CONSTRAINT field_visit_closed CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
    ADD CONSTRAINT field_visit_cancelled CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL));

CREATE INDEX field_visit_requests_case ON field_visit_requests (case_id, id);
CREATE INDEX field_visit_requests_status ON field_visit_requests (status, id);
CREATE INDEX field_visit_requests_collector_a ON field_visit_requests (collector_a)
    WHERE collector_a IS NOT NULL;
CREATE INDEX field_visit_requests_collector_b ON field_visit_requests (collector_b)
    WHERE collector_b IS NOT NULL;
CREATE INDEX field_visit_requests_closed ON field_visit_requests (closed_at)
    WHERE status = 'closed';

-- A case has at most one open visit (requested, planned or visited). Every writer
-- locks the case row first; a request made while one is open (an agent filing
-- SKIP on a case whose visit is still planned) is dropped, not duplicated.
CREATE FUNCTION field_visit_one_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM field_visit_requests
               WHERE case_id = NEW.case_id AND status IN ('requested', 'planned', 'visited'))
    THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER field_visit_requests_one_open BEFORE INSERT ON field_visit_requests
    FOR EACH ROW EXECUTE FUNCTION field_visit_one_open();

-- Evidence of a visit: the file is stored under the evidence root at stored_path
-- (relative to the root), written whole and renamed into place before its row is
-- committed; the code only ever inserts rows (offboarding may erase them).
CREATE TABLE field_visit_evidence (
    id            bigserial   PRIMARY KEY,
    visit_id      bigint      NOT NULL REFERENCES field_visit_requests(id),
    kind          text        NOT NULL CHECK (kind IN ('photo', 'recording', 'report')),
    file_name     text        NOT NULL CHECK (length(file_name) BETWEEN 1 AND 200),
    content_type  text        NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png',
                                  'audio/wav', 'audio/mpeg', 'application/pdf')),
    byte_size     bigint      NOT NULL CHECK (byte_size > 0),
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    stored_path   text        NOT NULL UNIQUE,
    uploaded_by   bigint      NOT NULL REFERENCES users(id),
    uploaded_at   timestamptz NOT NULL
);
CREATE INDEX field_visit_evidence_visit ON field_visit_evidence (visit_id, id);

-- The monthly QA sample of closed visits: per client and month (the client's
-- local calendar month of closed_at), one seed; a visit is sampled once.
CREATE TABLE field_visit_samples (
    id          bigserial   PRIMARY KEY,
    month       date        NOT NULL CHECK (extract(day FROM month) = 1),
    client_id   bigint      NOT NULL REFERENCES clients(id),
    visit_id    bigint      NOT NULL UNIQUE REFERENCES field_visit_requests(id),
    seed        text        NOT NULL CHECK (length(seed) BETWEEN 1 AND 100),
    sampled_at  timestamptz NOT NULL,
    sampled_by  bigint      REFERENCES users(id)
);
CREATE INDEX field_visit_samples_month ON field_visit_samples (month, client_id);
