-- The agent API finds the action an agent filed on a call by its idempotency key, so
-- that a retried POST /agent/call/action answers with it after the call has left the
-- agent (actions are unique per case and key; the retry does not know the case).
CREATE INDEX actions_filer_key ON actions (user_id, idempotency_key)
    WHERE attempt_id IS NOT NULL;
