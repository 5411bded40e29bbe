-- Facts the dialer's compliance check needs about clients, debtors and phones.

-- The client forbids calls on public holidays of its region (clients.default_region,
-- optionally narrowed to a subdivision such as a US state).
ALTER TABLE clients ADD COLUMN no_holiday_calls boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN holiday_subdivision text;

-- A written request to stop contact, a known attorney, and the hours the debtor
-- agreed to be called in (both ends or neither).
ALTER TABLE debtors ADD COLUMN cease_requested boolean NOT NULL DEFAULT false;
ALTER TABLE debtors ADD COLUMN attorney_represented boolean NOT NULL DEFAULT false;
ALTER TABLE debtors ADD COLUMN agreed_window_start time;
ALTER TABLE debtors ADD COLUMN agreed_window_end time;
ALTER TABLE debtors ADD CONSTRAINT debtors_agreed_window
    CHECK ((agreed_window_start IS NULL) = (agreed_window_end IS NULL));

-- Consent to calls on the number, and the do-not-call list.
ALTER TABLE phones ADD COLUMN consent text NOT NULL DEFAULT 'unknown'
    CHECK (consent IN ('given', 'unknown', 'revoked'));
ALTER TABLE phones ADD COLUMN do_not_call boolean NOT NULL DEFAULT false;
