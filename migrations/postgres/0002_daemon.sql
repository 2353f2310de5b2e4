-- State of the daemon itself: who syncs which account (leases), how far change tracking
-- got (cursors) and where a backfill stopped (backfills). Several daemons may share this
-- database; every time here comes from the database clock, never from a daemon's.

CREATE TABLE sync_leases (
    account     text        PRIMARY KEY,
    owner       text,
    lease_until timestamptz,
    generation  bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sync_leases IS 'One row per account: the daemon (owner) allowed to sync it until lease_until. generation grows whenever the holder changes; every page a daemon writes checks that owner and generation are still its own, so a daemon that lost its lease cannot write.';
COMMENT ON COLUMN sync_leases.owner IS 'The instance holding the lease (daemon.instance_id); null once released.';
COMMENT ON COLUMN sync_leases.lease_until IS 'The lease is free after this instant (database clock), unless its owner renews it.';
COMMENT ON COLUMN sync_leases.generation IS 'Fencing token: incremented each time another owner takes the lease.';

CREATE TABLE sync_cursors (
    account        text        PRIMARY KEY,
    modified_since timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sync_cursors IS 'Change tracking per account: orders modified before modified_since are known. The cursor only moves forward.';

CREATE TABLE sync_backfills (
    id           bigserial   PRIMARY KEY,
    account      text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    done_until   timestamptz,
    finished_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE sync_backfills IS 'Backfills (run --from/--to) and their progress: every order created before done_until is written, so a rerun of the same window resumes there. finished_at is set when the whole window is done.';
-- Unique while unfinished: two one-shots asking for the same window share one row (and
-- resume it) instead of each starting its own. Finished backfills may repeat.
CREATE UNIQUE INDEX sync_backfills_open_window_key ON sync_backfills (account, window_start, window_end)
    WHERE finished_at IS NULL;

-- Readiness asks every few seconds for each account's last success and the failures
-- after it (Store::account_run_status).
CREATE INDEX sync_runs_account_status_finished_at_idx ON sync_runs (account, status, finished_at);
