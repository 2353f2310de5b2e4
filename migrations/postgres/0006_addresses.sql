-- Receiving addresses of each 1688 account, cached so that creating a purchase order can
-- offer them without calling 1688 (`accounts addresses` refreshes them).

CREATE TABLE receive_addresses_1688 (
    account           text        NOT NULL,
    address_id        text        NOT NULL,
    full_name         text        NOT NULL,
    address           text        NOT NULL,
    address_code      text,
    address_code_text text,
    post              text,
    phone             text,
    mobile            text,
    is_default        boolean     NOT NULL DEFAULT false,
    fetched_at        timestamptz NOT NULL,
    PRIMARY KEY (account, address_id)
);
COMMENT ON TABLE receive_addresses_1688 IS 'The receiving addresses of each 1688 account, as last fetched from 1688; replaced as a whole per account on every refresh.';
COMMENT ON COLUMN receive_addresses_1688.account IS 'The 1688 account (its name in the configuration) the address belongs to.';
COMMENT ON COLUMN receive_addresses_1688.address_id IS 'The 1688 id of the address: what purchase_orders.address_id_1688 holds.';
COMMENT ON COLUMN receive_addresses_1688.full_name IS 'The receiver''s name.';
COMMENT ON COLUMN receive_addresses_1688.address IS 'The street address, as 1688 gives it.';
COMMENT ON COLUMN receive_addresses_1688.address_code IS 'The 1688 area code of the address.';
COMMENT ON COLUMN receive_addresses_1688.address_code_text IS 'The area the code names (province, city, district).';
COMMENT ON COLUMN receive_addresses_1688.post IS 'The postal code.';
COMMENT ON COLUMN receive_addresses_1688.phone IS 'The landline number.';
COMMENT ON COLUMN receive_addresses_1688.mobile IS 'The mobile number.';
COMMENT ON COLUMN receive_addresses_1688.is_default IS 'Whether it is the account''s default address on 1688.';
COMMENT ON COLUMN receive_addresses_1688.fetched_at IS 'When the account''s addresses were last fetched from 1688.';
