-- State of the daemon itself: leases, change cursors and backfill progress (see the
-- PostgreSQL migration for what each means). Timestamps are TEXT in the fixed-width UTC
-- format of 0001, so that comparing the text orders the instants.

CREATE TABLE sync_leases (
    account     TEXT    PRIMARY KEY NOT NULL,
    owner       TEXT,
    lease_until TEXT,
    generation  INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE sync_cursors (
    account        TEXT PRIMARY KEY NOT NULL,
    modified_since TEXT NOT NULL,
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE sync_backfills (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account      TEXT    NOT NULL,
    window_start TEXT    NOT NULL,
    window_end   TEXT    NOT NULL,
    done_until   TEXT,
    finished_at  TEXT,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Unique while unfinished, as in PostgreSQL: one resumable row per window.
CREATE UNIQUE INDEX sync_backfills_open_window_key ON sync_backfills (account, window_start, window_end)
    WHERE finished_at IS NULL;

-- Readiness asks every few seconds for each account's last success and the failures
-- after it (Store::account_run_status).
CREATE INDEX sync_runs_account_status_finished_at_idx ON sync_runs (account, status, finished_at);
