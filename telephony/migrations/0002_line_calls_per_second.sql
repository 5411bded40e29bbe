-- The trunk's limit on new calls a second, as the carrier sets it (NULL: none).
ALTER TABLE work_lines
    ADD COLUMN calls_per_second numeric(7, 2) CHECK (calls_per_second > 0);
