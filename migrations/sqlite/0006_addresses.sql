-- Receiving addresses of each 1688 account, cached (see the PostgreSQL migration for what
-- each column means).

CREATE TABLE receive_addresses_1688 (
    account           TEXT    NOT NULL,
    address_id        TEXT    NOT NULL,
    full_name         TEXT    NOT NULL,
    address           TEXT    NOT NULL,
    address_code      TEXT,
    address_code_text TEXT,
    post              TEXT,
    phone             TEXT,
    mobile            TEXT,
    is_default        INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    fetched_at        TEXT    NOT NULL,
    PRIMARY KEY (account, address_id)
);
