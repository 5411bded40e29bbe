-- Supervisors' softphones: registered with the same registrar as the agents' (one
-- extension namespace), used to listen in, whisper and barge. A supervisor is never
-- offered calls, so a phone here makes no agent.

CREATE TABLE supervisor_phones (
    user_id     bigint      PRIMARY KEY REFERENCES users(id),
    extension   text        NOT NULL UNIQUE CHECK (extension ~ '^[A-Za-z0-9_.-]{1,32}$'),
    sip_realm   text        NOT NULL CHECK (length(sip_realm) BETWEEN 1 AND 100
                                AND position(':' IN sip_realm) = 0),
    sip_ha1     text        NOT NULL CHECK (sip_ha1 ~ '^[0-9a-f]{32}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- An extension belongs to one agent or one supervisor, never both.
CREATE FUNCTION extension_unused() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('extension:' || NEW.extension));
    IF EXISTS (SELECT 1 FROM agents WHERE extension = NEW.extension
                 AND user_id <> NEW.user_id AND TG_TABLE_NAME = 'supervisor_phones')
       OR EXISTS (SELECT 1 FROM supervisor_phones WHERE extension = NEW.extension
                 AND user_id <> NEW.user_id AND TG_TABLE_NAME = 'agents') THEN
        RAISE EXCEPTION 'extension % is taken', NEW.extension USING ERRCODE = 'unique_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER supervisor_phones_extension BEFORE INSERT OR UPDATE OF extension
    ON supervisor_phones FOR EACH ROW EXECUTE FUNCTION extension_unused();
CREATE TRIGGER agents_extension BEFORE INSERT OR UPDATE OF extension
    ON agents FOR EACH ROW EXECUTE FUNCTION extension_unused();
