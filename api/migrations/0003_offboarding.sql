-- Offboarding a client at the end of its contract (api/offboard.py): the record of
-- each run, and the one change the append-only actions log then allows.
--
-- The audit log and the actions log are append-only: they are the evidence of who
-- did what, and nobody may rewrite them. Deleting a client's data must still erase
-- what agents typed about its debtors (an action's note, and the free-text fields
-- `statement` and `note`). So an UPDATE of actions is allowed when it only erases:
-- every other column unchanged, the note set to NULL, the fields a subset of the old
-- ones (OLD.fields @> NEW.fields), and only for cases of a client with an
-- offboarding row. It can never make the log say something it did not; deletes stay
-- refused. The audit log holds no debtor data (ids, codes, staff) and stays as it is.

CREATE TABLE client_offboardings (
    id             bigserial   PRIMARY KEY,
    client_id      bigint      NOT NULL REFERENCES clients(id),
    offboarded_at  timestamptz NOT NULL,
    held_cases     bigint[]    NOT NULL DEFAULT '{}'  -- kept whole: a recording on legal hold
);
CREATE INDEX client_offboardings_client ON client_offboardings (client_id, id);

CREATE TRIGGER client_offboardings_append_only BEFORE UPDATE OR DELETE
    ON client_offboardings FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE FUNCTION actions_append_or_erase() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.id, NEW.case_id, NEW.code, NEW.user_id, NEW.phone_id, NEW.attempt_id,
            NEW.idempotency_key, NEW.effect, NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.case_id, OLD.code, OLD.user_id, OLD.phone_id, OLD.attempt_id,
            OLD.idempotency_key, OLD.effect, OLD.created_at)
       AND NEW.note IS NULL
       AND OLD.fields @> NEW.fields
       AND EXISTS (SELECT 1 FROM cases c JOIN client_offboardings o
                   ON o.client_id = c.client_id WHERE c.id = OLD.case_id)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only (an offboarded client''s free text may be erased)',
        TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER actions_append_only ON actions;
CREATE TRIGGER actions_append_only BEFORE UPDATE OR DELETE ON actions
    FOR EACH ROW EXECUTE FUNCTION actions_append_or_erase();
