-- Finding the attempt of a SIP call (the agent's screen-pop during wrap-up, the
-- catalogue of a recording recovered after a crash).
CREATE INDEX attempts_call ON attempts (call_id) WHERE call_id IS NOT NULL;
