-- QA's marks on the recordings catalogue (recordings.sampled, recordings.reviewed,
-- recording/migrations/0003_qa_marks.sql): set here as a recording is sampled or
-- reviewed, whoever writes the sample or the review, and filled from those so far.
--
-- sampled: the recording has a qa_samples row (one at most: UNIQUE, so a sample
-- written and one removed at the same time wait for each other). reviewed: it has a
-- qa_reviews row (any reviewer's). A removed review clears the mark only when no other
-- review is left; a review written and one removed at the same time both lock the
-- recording's row before they look, so the later one sees the earlier one's review (or
-- its absence) committed and the mark ends as the reviews are. A recording is
-- catalogued before it can be sampled or reviewed (both name its id).

CREATE FUNCTION mark_sampled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE recordings SET sampled = false WHERE id = OLD.recording_id AND sampled;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE recordings SET sampled = true WHERE id = NEW.recording_id AND NOT sampled;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION mark_reviewed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM 1 FROM recordings WHERE id = OLD.recording_id FOR NO KEY UPDATE;
        UPDATE recordings SET reviewed = false WHERE id = OLD.recording_id AND reviewed
           AND NOT EXISTS (SELECT 1 FROM qa_reviews v WHERE v.recording_id = OLD.recording_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM 1 FROM recordings WHERE id = NEW.recording_id FOR NO KEY UPDATE;
        UPDATE recordings SET reviewed = true WHERE id = NEW.recording_id AND NOT reviewed;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER qa_samples_mark AFTER INSERT OR DELETE OR UPDATE OF recording_id
    ON qa_samples FOR EACH ROW EXECUTE FUNCTION mark_sampled();
CREATE TRIGGER qa_reviews_mark AFTER INSERT OR DELETE OR UPDATE OF recording_id
    ON qa_reviews FOR EACH ROW EXECUTE FUNCTION mark_reviewed();

UPDATE recordings r SET sampled = f.sampled, reviewed = f.reviewed
  FROM (SELECT recording_id, bool_or(sampled) AS sampled, bool_or(NOT sampled) AS reviewed
          FROM (SELECT recording_id, true AS sampled FROM qa_samples
                UNION ALL SELECT recording_id, false FROM qa_reviews) x
         GROUP BY recording_id) f
 WHERE r.id = f.recording_id;
