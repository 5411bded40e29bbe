-- What the month-end reports (api/reports.py) read from the calls, kept where they
-- read it: the month's calls from one index, each call's action-code flags on the
-- call itself, and the cases each campaign called in a month.
--
-- attempts.right_party, attempts.promise_to_pay: NULL until an action code is filed
-- on the call; then whether a code filed on it is a right-party contact / creates a
-- promise (cases/actions.py sets both in the filing's transaction, a later code only
-- ever turns one on). Computed here from the actions filed so far.

ALTER TABLE attempts ADD COLUMN promise_to_pay boolean;

UPDATE attempts a SET right_party = f.right_party, promise_to_pay = f.promise_to_pay
  FROM (SELECT x.attempt_id, bool_or(k.right_party) AS right_party,
               bool_or(k.creates_promise) AS promise_to_pay
          FROM actions x JOIN action_codes k ON k.code = x.code
         WHERE x.attempt_id IS NOT NULL
         GROUP BY x.attempt_id) f
 WHERE a.id = f.attempt_id;

-- campaign_cases: the cases each campaign (0: calls outside any campaign) called in a
-- calendar month of the case's client's zone, kept by a trigger on every new attempt
-- (whoever places it: the campaign loop, an agent's own call, an import).
CREATE TABLE campaign_cases (
    month        date    NOT NULL CHECK (extract(day FROM month) = 1),
    campaign_id  bigint  NOT NULL,
    case_id      bigint  NOT NULL REFERENCES cases(id),
    PRIMARY KEY (month, campaign_id, case_id)
);

CREATE FUNCTION note_campaign_case() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO campaign_cases (month, campaign_id, case_id)
    SELECT date_trunc('month', NEW.placed_at AT TIME ZONE cl.time_zone)::date,
           coalesce(NEW.campaign_id, 0), NEW.case_id
      FROM cases c JOIN clients cl ON cl.id = c.client_id
     WHERE c.id = NEW.case_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER attempts_campaign_case AFTER INSERT ON attempts
    FOR EACH ROW EXECUTE FUNCTION note_campaign_case();

INSERT INTO campaign_cases (month, campaign_id, case_id)
SELECT DISTINCT date_trunc('month', a.placed_at AT TIME ZONE cl.time_zone)::date,
       coalesce(a.campaign_id, 0), a.case_id
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN clients cl ON cl.id = c.client_id;

-- The month's calls with what every report counts, read from the index alone: the
-- cost follows the month, not the years of calls before it.
CREATE INDEX attempts_placed ON attempts (placed_at)
    INCLUDE (campaign_id, case_id, agent_id, result, right_party, promise_to_pay);

-- Each case's calls in a month with what they count for (the calls on the cases, the
-- contact floor's right-party contacts, by batch the connected and abandoned calls),
-- read from the index alone; the same keys as before.
DROP INDEX attempts_case;
CREATE INDEX attempts_case ON attempts (case_id, placed_at)
    INCLUDE (result, right_party, promise_to_pay);
