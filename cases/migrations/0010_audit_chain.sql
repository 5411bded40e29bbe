-- The audit log becomes tamper-evident: every row carries
--   row_hash = sha256(prev_hash, id, at, user, role, client, action, record, ip,
--                     request id, details)
-- with prev_hash the row_hash of the row before it in id order ('0' x 64 for the
-- first). A BEFORE INSERT trigger takes a transaction-scoped advisory lock and draws
-- the id under it, so id order is commit order and each row links to the one before.
-- Changing a row (which takes disabling the append-only trigger) breaks its hash;
-- rehashing the tail to hide it changes the head hash, which `callcase audit verify`
-- prints so that it can be kept outside the database. Writers use READ COMMITTED
-- (asyncpg's default): the row before is read after the lock, in a new snapshot.

ALTER TABLE audit_log ADD COLUMN prev_hash text;
ALTER TABLE audit_log ADD COLUMN row_hash text;

CREATE FUNCTION audit_row_digest(prev text, r audit_log) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(concat_ws(E'\x1f', prev, r.id::text,
        to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        coalesce(r.user_id::text, ''), coalesce(r.username, ''), coalesce(r.role, ''),
        coalesce(r.client_id::text, ''), r.action, coalesce(r.record_type, ''),
        coalesce(r.record_id, ''), coalesce(r.ip, ''), coalesce(r.request_id, ''),
        r.details::text), 'UTF8')), 'hex')
$$;

-- Chain what is there already, in id order.
ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
DO $$
DECLARE
    r audit_log;
    prev text := repeat('0', 64);
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        UPDATE audit_log SET prev_hash = prev, row_hash = audit_row_digest(prev, r)
            WHERE id = r.id RETURNING row_hash INTO prev;
    END LOOP;
END $$;
ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;

CREATE FUNCTION audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('callcase.audit_chain'));
    NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
    NEW.prev_hash := coalesce(
        (SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1), repeat('0', 64));
    NEW.row_hash := audit_row_digest(NEW.prev_hash, NEW);
    RETURN NEW;
END $$;

CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_chain();

ALTER TABLE audit_log ALTER COLUMN prev_hash SET NOT NULL;
ALTER TABLE audit_log ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_row_hash_unique UNIQUE (row_hash);
