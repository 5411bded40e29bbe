-- The code the service files itself when an agent's wrap-up runs out with no code
-- filed for the call: the call is on the case's record either way. It leaves the
-- case's status as it was (not connected in the action-code sense, not right party)
-- and brings the case back after a day.
INSERT INTO action_codes (code, category, label_en, label_zh, connected, right_party,
    required_fields, status_after, retry_after_hours, hold_reason, creates_promise,
    invalidates_phone, field_visit, notify_client) VALUES
 ('NOCODE', 'no_contact', 'No code filed: the wrap-up ran out', '未填写处理结果（整理超时）',
  false, false, '{}', NULL, 24, NULL, false, false, false, NULL);
