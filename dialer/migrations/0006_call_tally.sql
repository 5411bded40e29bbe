-- call_tally: what the month-end reports (api/reports.py) count of the calls, kept per
-- (month, campaign, case, agent) as calls are placed, bridged, ended and coded, so a
-- report reads about 2.6 rows a case instead of the month's 10 calls a case.
--
-- month is the calendar month of the call's placing in the zone of its case's client
-- (as campaign_cases); campaign_id 0 is a call outside any campaign, agent_id 0 a call
-- no agent was on. client_id and batch_id are the case's client and first batch (a
-- case never changes either), so the reports by client and batch need no join. The
-- counts are those of api/report_queries.py: calls placed (in progress or not),
-- connected, connected with a right-party code, connected with a promise, abandoned.
--
-- A row is only ever touched by the calls of one case (and one agent): no hot row. The
-- trigger runs at commit (a deferred constraint trigger), so its row locks come after
-- every lock the transaction took before (the call, then its case, as the dialer ends
-- a call and a filing codes it): it cannot add a deadlock to those orders. A row whose
-- calls all moved on (the call placed without an agent, then bridged) stays with
-- zeros; the reports skip it.

CREATE TABLE call_tally (
    month        date    NOT NULL CHECK (extract(day FROM month) = 1),
    campaign_id  bigint  NOT NULL,
    case_id      bigint  NOT NULL,
    agent_id     bigint  NOT NULL,
    client_id    bigint  NOT NULL,
    batch_id     bigint  NOT NULL,
    calls        integer NOT NULL,
    connected    integer NOT NULL,
    right_party  integer NOT NULL,
    promises     integer NOT NULL,
    abandoned    integer NOT NULL,
    PRIMARY KEY (month, campaign_id, case_id, agent_id)
);

-- One statement per change of a call: what the call counts for now (NEW, +1) less what
-- it counted for before (OLD, -1; both NULL where there is none), summed per row. A call
-- changed in place (ended, coded) changes its row by the difference; one that moves
-- between two rows (bridged: from agent 0 to its agent) leaves one and joins the other,
-- written in the rows' order, so that two moves cannot lock two rows crosswise.
CREATE FUNCTION note_call_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO call_tally AS t (month, campaign_id, case_id, agent_id, client_id, batch_id,
                                 calls, connected, right_party, promises, abandoned)
    SELECT date_trunc('month', v.placed_at AT TIME ZONE cl.time_zone)::date,
           coalesce(v.campaign_id, 0), v.case_id, coalesce(v.agent_id, 0), c.client_id,
           c.first_batch_id, sum(v.sign),
           sum(v.sign * coalesce(v.result = 'connected', false)::int),
           sum(v.sign * coalesce(v.result = 'connected' AND v.right_party, false)::int),
           sum(v.sign * coalesce(v.result = 'connected' AND v.promise_to_pay, false)::int),
           sum(v.sign * coalesce(v.result = 'abandoned', false)::int)
      FROM (VALUES (-1, OLD.placed_at, OLD.campaign_id, OLD.case_id, OLD.agent_id, OLD.result,
                    OLD.right_party, OLD.promise_to_pay),
                   (1, NEW.placed_at, NEW.campaign_id, NEW.case_id, NEW.agent_id, NEW.result,
                    NEW.right_party, NEW.promise_to_pay))
           AS v (sign, placed_at, campaign_id, case_id, agent_id, result, right_party,
                 promise_to_pay)
      JOIN cases c ON c.id = v.case_id JOIN clients cl ON cl.id = c.client_id
     GROUP BY 1, 2, 3, 4, 5, 6
    HAVING (sum(v.sign), sum(v.sign * coalesce(v.result = 'connected', false)::int),
            sum(v.sign * coalesce(v.result = 'connected' AND v.right_party, false)::int),
            sum(v.sign * coalesce(v.result = 'connected' AND v.promise_to_pay, false)::int),
            sum(v.sign * coalesce(v.result = 'abandoned', false)::int)) <> (0, 0, 0, 0, 0)
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, campaign_id, case_id, agent_id) DO UPDATE
       SET calls = t.calls + EXCLUDED.calls, connected = t.connected + EXCLUDED.connected,
           right_party = t.right_party + EXCLUDED.right_party,
           promises = t.promises + EXCLUDED.promises,
           abandoned = t.abandoned + EXCLUDED.abandoned;
    RETURN NULL;
END $$;

-- No call is placed, ended or coded while the table is filled below (they wait for the
-- fill: an upgrade for a quiet hour), so none is counted twice or missed.
LOCK TABLE attempts IN SHARE ROW EXCLUSIVE MODE;

CREATE CONSTRAINT TRIGGER attempts_tally_placed AFTER INSERT OR DELETE ON attempts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION note_call_tally();
-- Only the updates that change what the call counts for: the dialer's other updates
-- (its SIP call id, the answer time, a result no report counts) cost nothing here.
CREATE CONSTRAINT TRIGGER attempts_tally_changed
    AFTER UPDATE OF campaign_id, case_id, agent_id, placed_at, result, right_party,
                    promise_to_pay ON attempts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.agent_id IS DISTINCT FROM NEW.agent_id
          OR OLD.campaign_id IS DISTINCT FROM NEW.campaign_id
          OR OLD.case_id <> NEW.case_id OR OLD.placed_at <> NEW.placed_at
          OR (CASE WHEN OLD.result IN ('connected', 'abandoned') THEN OLD.result END)
             IS DISTINCT FROM (CASE WHEN NEW.result IN ('connected', 'abandoned')
                                    THEN NEW.result END)
          OR (NEW.result = 'connected'
              AND (coalesce(OLD.right_party, false) <> coalesce(NEW.right_party, false)
                   OR coalesce(OLD.promise_to_pay, false)
                      <> coalesce(NEW.promise_to_pay, false))))
    EXECUTE FUNCTION note_call_tally();

INSERT INTO call_tally (month, campaign_id, case_id, agent_id, client_id, batch_id, calls,
                        connected, right_party, promises, abandoned)
SELECT date_trunc('month', a.placed_at AT TIME ZONE cl.time_zone)::date,
       coalesce(a.campaign_id, 0), a.case_id, coalesce(a.agent_id, 0), c.client_id,
       c.first_batch_id, count(*),
       count(*) FILTER (WHERE a.result = 'connected'),
       count(*) FILTER (WHERE a.result = 'connected' AND a.right_party),
       count(*) FILTER (WHERE a.result = 'connected' AND a.promise_to_pay),
       count(*) FILTER (WHERE a.result = 'abandoned')
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN clients cl ON cl.id = c.client_id
 GROUP BY 1, 2, 3, 4, 5, 6;
