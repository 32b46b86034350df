-- A run's log is stored a batch per row (the entries of one append, packed as a JSON array
-- of [time, kind, text, data]) instead of a row per line: many runs printing at once cost
-- the database a row per batch, not per line. Entries keep their seqs: first_seq + index.

CREATE TABLE run_log_batches (
    run_id    BLOB NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    entries   TEXT NOT NULL,
    PRIMARY KEY (run_id, first_seq)
);

INSERT INTO run_log_batches (run_id, first_seq, last_seq, entries)
SELECT run_id, seq, seq, json_array(json_array(ts, kind, text, CASE WHEN data IS NULL THEN NULL ELSE json(data) END))
FROM run_logs;

DROP TABLE run_logs;
