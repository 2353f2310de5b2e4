//! The contract of the storage layer, run against both backends: each behaviour is one
//! async function taking a fresh database, and `on_both_backends!` makes an
//! `on_postgres` and an `on_sqlite` test of it (on a multi-thread runtime, so that
//! concurrent calls really run at once).

#[macro_use]
mod support;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::PgListener;
use support::TestDb;
use sync1688::domain::{
    IncomingOrder, Line1688, MappingTable, MappingTarget, Order1688, PoStatus, PriceRange,
    Product1688, ProductSku1688, RawHash, ReceiptRequest, ReceivingError, RunKind, RunStatus, Scan,
    SkuMapping, SupplierRef, SyncWindow, TrackingSource, WarehouseError,
};
use sync1688::store::{
    self, AccountRunStatus, AddressRow, Backend, DraftEdit, InventoryRow, LeaseRow, MappingChange,
    MerchantSku, Numbered, PageTarget, ProductUpsert, RunCounts, Store, StoreError, StoredOrder,
    StoredProductSku, SupplierRow, UnmappedItem, WarehouseChange, WarehouseDeletion,
};

on_both_backends!(
    a_page_of_new_orders_is_inserted_with_exact_amounts_and_64_bit_ids,
    writing_the_same_page_again_writes_nothing,
    a_changed_order_updates_1688_fields_and_keeps_what_the_erp_owns,
    a_line_1688_no_longer_lists_is_deleted_unless_the_erp_made_it_its_own,
    a_draft_follows_1688_into_cancelled_but_a_submitted_order_does_not,
    tombstoned_orders_are_skipped,
    a_failing_statement_leaves_none_of_the_page,
    an_order_repeated_within_a_page_is_written_once_from_its_last_occurrence,
    a_page_larger_than_one_statement_is_written_whole,
    text_with_tabs_newlines_and_backslashes_is_stored_as_given,
    suppliers_are_created_once_and_shared,
    merchant_skus_are_upserted_and_counted,
    a_gtin_already_used_by_another_sku_fails_naming_the_line,
    a_mapping_import_with_an_unknown_merchant_sku_fails_naming_the_line_and_writes_nothing,
    a_mapping_import_remaps_waiting_lines_of_unreceived_orders_only,
    begin_run_closes_runs_that_a_dead_process_left_running,
    unmapped_items_and_totals_count_the_waiting_lines,
    ensure_warehouse_creates_a_warehouse_once,
    a_lease_is_granted_once_and_taken_over_only_after_it_expires,
    the_old_holder_can_neither_renew_nor_release_a_lease_taken_over,
    a_released_lease_can_be_claimed_at_once,
    only_one_of_several_simultaneous_claims_wins,
    a_page_written_under_a_lost_lease_rolls_back_and_writes_nothing,
    the_change_cursor_only_moves_forward_and_respects_the_fence,
    a_backfill_resumes_where_it_stopped_until_finished,
    account_run_status_counts_the_failures_since_the_last_success,
    old_runs_are_trimmed_but_the_latest_success_and_running_runs_stay,
    a_product_add_creates_its_supplier_once_and_sync_uses_the_same_row,
    adding_an_unchanged_product_again_writes_nothing,
    a_changed_product_replaces_its_skus,
    set_mappings_checks_merchant_skus_and_the_skus_of_stored_products,
    set_mappings_remaps_exactly_the_waiting_lines_of_unreceived_orders,
    the_unmapped_view_counts_waiting_lines_and_dates_the_oldest_order,
    deleting_a_mapping_keeps_the_lines_it_mapped,
    list_suppliers_counts_products_and_purchase_orders,
    a_full_receipt_by_sku_and_gtin_stocks_every_line_and_receives_the_order,
    a_partial_receipt_continues_later_until_the_order_is_received,
    every_receiving_rule_names_its_input_and_writes_nothing,
    over_receipt_is_refused_unless_within_the_tolerance,
    two_receipts_racing_for_the_last_units_cannot_both_take_them,
    stock_and_journal_are_kept_per_warehouse,
    tracking_numbers_are_kept_once_per_order_and_find_every_order_carrying_them,
    a_warehouse_with_stock_is_deleted_only_when_forced_and_its_1688_orders_stay_deleted,
    a_created_order_is_a_draft_with_its_number_lines_and_amounts,
    creating_with_an_unknown_supplier_or_warehouse_names_it,
    submit_moves_drafts_and_refuses_the_rest_with_the_reason,
    recording_a_placement_twice_changes_nothing,
    sync_updates_the_created_order_linked_by_its_1688_id,
    sync_updates_the_created_order_carrying_its_out_order_id,
    known_orders_are_the_synced_orders_of_the_window_stored_as_1688_sent_them,
    an_order_claimed_by_a_created_purchase_order_is_never_known,
    a_split_placement_keeps_one_purchase_order_with_its_amounts,
    addresses_are_replaced_per_account_and_read_default_first,
    editing_a_draft_changes_its_note_warehouse_and_lines,
    only_drafts_not_yet_placed_can_be_edited_and_the_refusal_says_why,
    editing_with_an_unknown_warehouse_or_order_names_it,
);

// ---------------------------------------------------------------------------------------
// Fixtures

const ACCOUNT: &str = "main";
/// Above 2^53: a double would round it.
const BIG_ORDER_ID: i64 = 3_657_499_272_179_232_333;
const SHIRT_OFFER: i64 = 574_273_466_269;
const SHIRT_SPEC: &str = "7a2087a6594c7d6030d8ff5c42c8a2e8";
const CUP_OFFER: i64 = 600_000_000_001;

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn line(
    sub_item_id: i64,
    offer_id: i64,
    spec_id: &str,
    title: &str,
    quantity: &str,
    price: &str,
    amount: &str,
) -> Line1688 {
    Line1688 {
        sub_item_id,
        offer_id,
        spec_id: spec_id.into(),
        sku_id: Some(3_753_684_468_637),
        title: title.into(),
        attributes: "颜色:深灰色; 尺码:3XL".into(),
        unit: Some("件".into()),
        quantity: dec(quantity),
        unit_price: dec(price),
        amount: dec(amount),
        status: Some("waitbuyerpay".into()),
    }
}

/// A 1688 order with a shirt line (sub-item `order_id * 10 + 1`) and a cup line
/// (`order_id * 10 + 2`), sold by `shop-a`.
fn order(order_id: i64) -> Order1688 {
    let base = (order_id % 1_000_000_000) * 10;
    Order1688 {
        order_id,
        status: "waitbuyerpay".into(),
        supplier: Some(SupplierRef {
            login_id: "shop-a".into(),
            member_id: Some("b2b-1623492085".into()),
            name: Some("义乌市某某贸易".into()),
        }),
        currency: "CNY".into(),
        goods_amount: dec("39.90"),
        shipping_fee: dec("0"),
        discount: dec("-39.89"),
        total_amount: dec("0.01"),
        created_at: at(1_776_470_400),
        modified_at: None,
        out_order_id: None,
        lines: vec![
            line(
                base + 1,
                SHIRT_OFFER,
                SHIRT_SPEC,
                "女装T恤",
                "3",
                "12.5",
                "37.5",
            ),
            line(base + 2, CUP_OFFER, "", "Cup", "1", "2.4", "2.4"),
        ],
    }
}

fn shirt_mapping() -> SkuMapping {
    SkuMapping {
        offer_id: SHIRT_OFFER,
        spec_id: SHIRT_SPEC.into(),
        merchant_sku: "SHIRT-GREY-3XL".into(),
        quantity_ratio: dec("10"),
    }
}

fn prepare(order: Order1688, mappings: &[SkuMapping]) -> IncomingOrder {
    IncomingOrder::prepare(order, &MappingTable::new(mappings.iter().cloned()))
}

fn window() -> SyncWindow {
    SyncWindow {
        start: at(1_776_470_400),
        end: at(1_776_700_000),
    }
}

async fn target(store: &dyn Store) -> PageTarget {
    PageTarget {
        account: ACCOUNT.into(),
        warehouse_id: store.ensure_warehouse("MAIN").await.unwrap(),
        run_id: store
            .begin_run(ACCOUNT, RunKind::Window, window())
            .await
            .unwrap(),
        fence: None,
    }
}

async fn stored(store: &dyn Store, order_id: i64) -> StoredOrder {
    store
        .find_synced_order(ACCOUNT, order_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("order {order_id} was not stored"))
}

fn numbered<T>(rows: impl IntoIterator<Item = T>) -> Vec<Numbered<T>> {
    // Line 1 of an import file is its header.
    rows.into_iter()
        .enumerate()
        .map(|(i, value)| Numbered { line: i + 2, value })
        .collect()
}

fn merchant_sku(sku: &str, gtin: Option<&str>) -> MerchantSku {
    MerchantSku {
        sku: sku.into(),
        gtin: gtin.map(str::to_owned),
        name: format!("{sku} name"),
    }
}

/// A fingerprint of every stored row that changes when a row is written. PostgreSQL:
/// each row version's xmin and xmax, which also change when a row is only locked (an
/// `ON CONFLICT DO UPDATE … WHERE false` locks, and writes WAL). SQLite has no row
/// locks: its rows' `updated_at` plus a trigger counting writes.
async fn row_versions(db: &TestDb) -> String {
    let sql = match db.backend() {
        Backend::Postgres => {
            "SELECT concat(
                 (SELECT string_agg(id || ':' || xmin || ':' || xmax, ',' ORDER BY id) FROM purchase_orders), '|',
                 (SELECT string_agg(id || ':' || xmin || ':' || xmax, ',' ORDER BY id) FROM purchase_order_lines), '|',
                 (SELECT string_agg(id || ':' || xmin || ':' || xmax, ',' ORDER BY id) FROM suppliers))"
        }
        Backend::Sqlite => {
            "SELECT (SELECT group_concat(id || ':' || updated_at, ',') FROM purchase_orders) || '|' ||
                    (SELECT group_concat(id || ':' || updated_at, ',') FROM purchase_order_lines) || '|' ||
                    (SELECT group_concat(id || ':' || updated_at, ',') FROM suppliers) || '|' ||
                    (SELECT count(*) FROM row_writes)"
        }
    };
    db.scalar::<String>(sql).await
}

async fn count_row_writes(db: &TestDb) {
    if db.backend() == Backend::Sqlite {
        db.execute(
            "CREATE TABLE row_writes (tbl TEXT);
             CREATE TRIGGER po_written AFTER UPDATE ON purchase_orders BEGIN INSERT INTO row_writes VALUES ('po'); END;
             CREATE TRIGGER line_written AFTER UPDATE ON purchase_order_lines BEGIN INSERT INTO row_writes VALUES ('line'); END;
             CREATE TRIGGER supplier_written AFTER UPDATE ON suppliers BEGIN INSERT INTO row_writes VALUES ('s'); END;",
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// Writing pages

async fn a_page_of_new_orders_is_inserted_with_exact_amounts_and_64_bit_ids(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut big = order(BIG_ORDER_ID);
    // 20 significant digits: no floating point survives this.
    big.goods_amount = dec("12345678901234567.89");
    big.lines[0].sub_item_id = 196_965_465_451_498_520;
    let page = [prepare(big, &[shirt_mapping()]), prepare(order(1001), &[])];

    let outcome = store.write_page(&target, &page).await.unwrap();

    assert_eq!(
        (
            outcome.inserted,
            outcome.updated,
            outcome.unchanged,
            outcome.skipped
        ),
        (2, 0, 0, 0)
    );
    assert_eq!(outcome.created_ids.len(), 2);
    let po = stored(&*store, BIG_ORDER_ID).await;
    assert_eq!(outcome.created_ids[0], po.id);
    assert_eq!(po.order_id_1688, Some(BIG_ORDER_ID));
    assert_eq!(po.po_number, "1688-3657499272179232333");
    assert_eq!(po.source, "1688_sync");
    assert_eq!(po.account.as_deref(), Some(ACCOUNT));
    assert_eq!(po.status, "draft");
    assert_eq!(po.status_1688.as_deref(), Some("waitbuyerpay"));
    assert_eq!(po.warehouse_id, Some(target.warehouse_id));
    assert_eq!(po.currency, "CNY");
    assert_eq!(po.goods_amount.unwrap().to_string(), "12345678901234567.89");
    assert_eq!(po.discount, Some(dec("-39.89")));
    assert_eq!(po.total_amount, Some(dec("0.01")));
    assert_eq!(po.created_at_1688, Some(at(1_776_470_400)));
    assert_eq!(po.modified_at_1688, None);
    assert!(po.has_unmapped, "the cup line has no mapping");
    assert!(po.supplier_id.is_some());

    let lines: Vec<_> = po
        .lines
        .iter()
        .map(|l| (l.line_no, l.sub_item_id_1688))
        .collect();
    assert_eq!(
        lines,
        [
            (1, Some(196_965_465_451_498_520)),
            (2, Some(BIG_ORDER_ID % 1_000_000_000 * 10 + 2))
        ]
    );
    let shirt = &po.lines[0];
    assert_eq!(shirt.offer_id, Some(SHIRT_OFFER));
    assert_eq!(shirt.spec_id.as_deref(), Some(SHIRT_SPEC));
    assert_eq!(shirt.sku_id_1688, Some(3_753_684_468_637));
    assert_eq!(shirt.title, "女装T恤");
    assert_eq!(shirt.attributes.as_deref(), Some("颜色:深灰色; 尺码:3XL"));
    assert_eq!(
        (shirt.quantity, shirt.unit_price, shirt.amount),
        (dec("3"), dec("12.5"), dec("37.5"))
    );
    assert_eq!(shirt.merchant_sku.as_deref(), Some("SHIRT-GREY-3XL"));
    assert_eq!(shirt.mapping_status, "mapped");
    assert_eq!(shirt.mapping_source.as_deref(), Some("mapping"));
    assert_eq!(shirt.merchant_quantity, Some(dec("30")));
    assert_eq!(shirt.merchant_unit_cost, Some(dec("1.25")));
    assert_eq!(shirt.received_qty, Decimal::ZERO);
    let cup = &po.lines[1];
    assert_eq!(cup.spec_id.as_deref(), Some(""));
    assert_eq!(
        (cup.mapping_status.as_str(), cup.merchant_sku.as_deref()),
        ("unmapped", None)
    );
    assert_eq!(cup.mapping_source, None);

    // What other tools see, through plain SQL.
    let raw = db
        .scalar::<String>(&format!(
            "SELECT CAST(order_id_1688 AS TEXT) || ' ' || CAST(goods_amount AS TEXT) || ' ' || CAST(discount AS TEXT)
             FROM purchase_orders WHERE order_id_1688 = {BIG_ORDER_ID}"
        ))
        .await;
    assert_eq!(raw, "3657499272179232333 12345678901234567.89 -39.89");
    let scale_kept = db
        .scalar::<String>(
            "SELECT CAST(goods_amount AS TEXT) FROM purchase_orders WHERE order_id_1688 = 1001",
        )
        .await;
    assert_eq!(scale_kept, "39.90", "amounts are stored as given");
}

async fn writing_the_same_page_again_writes_nothing(db: TestDb) {
    let store = db.store().await;
    count_row_writes(&db).await;
    let target = target(&*store).await;
    let page = [
        prepare(order(BIG_ORDER_ID), &[shirt_mapping()]),
        prepare(order(1001), &[]),
    ];
    store.write_page(&target, &page).await.unwrap();
    let before = row_versions(&db).await;
    let updated_at = stored(&*store, BIG_ORDER_ID).await.updated_at;

    let outcome = store.write_page(&target, &page).await.unwrap();

    assert_eq!(
        (outcome.inserted, outcome.updated, outcome.unchanged),
        (0, 0, 2)
    );
    assert!(outcome.created_ids.is_empty() && outcome.updated_ids.is_empty());
    assert_eq!(
        row_versions(&db).await,
        before,
        "a row was written or locked"
    );
    assert_eq!(stored(&*store, BIG_ORDER_ID).await.updated_at, updated_at);
}

async fn a_changed_order_updates_1688_fields_and_keeps_what_the_erp_owns(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let first = order(BIG_ORDER_ID);
    store
        .write_page(&target, &[prepare(first.clone(), &[shirt_mapping()])])
        .await
        .unwrap();
    let po = stored(&*store, BIG_ORDER_ID).await;
    let shirt_sub = first.lines[0].sub_item_id;
    let cup_sub = first.lines[1].sub_item_id;
    // The ERP submits the order, moves it, writes a note and picks a SKU for the cup.
    let other = store.ensure_warehouse("SECOND").await.unwrap();
    db.execute(&format!(
        "UPDATE purchase_orders SET status = 'on_the_way', note = 'call the supplier', warehouse_id = {other}
         WHERE id = {id};
         UPDATE purchase_order_lines
         SET merchant_sku = 'CUP-HAND-PICKED', mapping_status = 'mapped', mapping_source = 'manual',
             merchant_quantity = '6', merchant_unit_cost = '0.4'
         WHERE sub_item_id_1688 = {cup_sub};",
        id = po.id
    ))
    .await;

    let mut changed = first.clone();
    changed.status = "waitbuyerreceive".into();
    changed.total_amount = dec("10.01");
    changed.modified_at = Some(at(1_776_500_000));
    changed.out_order_id = Some("SF1234567890".into());
    changed.lines[0].quantity = dec("4");
    changed.lines[0].amount = dec("50");
    changed.lines[1].quantity = dec("2");
    changed.lines[1].status = Some("waitbuyerreceive".into());
    let outcome = store
        .write_page(&target, &[prepare(changed, &[shirt_mapping()])])
        .await
        .unwrap();

    assert_eq!(
        (outcome.inserted, outcome.updated, outcome.unchanged),
        (0, 1, 0)
    );
    assert_eq!(outcome.updated_ids, [po.id]);
    let after = stored(&*store, BIG_ORDER_ID).await;
    assert_eq!(after.id, po.id);
    assert_eq!(after.status_1688.as_deref(), Some("waitbuyerreceive"));
    assert_eq!(after.total_amount, Some(dec("10.01")));
    assert_eq!(after.modified_at_1688, Some(at(1_776_500_000)));
    assert!(after.updated_at >= po.updated_at);
    assert_eq!(
        after.status, "on_the_way",
        "the ERP owns a submitted order's status"
    );
    assert_eq!(after.note.as_deref(), Some("call the supplier"));
    assert_eq!(after.warehouse_id, Some(other));
    assert!(!after.has_unmapped, "the manually mapped cup is mapped");

    let shirt = after
        .lines
        .iter()
        .find(|l| l.sub_item_id_1688 == Some(shirt_sub))
        .unwrap();
    assert_eq!((shirt.quantity, shirt.amount), (dec("4"), dec("50")));
    assert_eq!(shirt.merchant_quantity, Some(dec("40")));
    assert_eq!(shirt.merchant_unit_cost, Some(dec("1.25")));
    let cup = after
        .lines
        .iter()
        .find(|l| l.sub_item_id_1688 == Some(cup_sub))
        .unwrap();
    assert_eq!(cup.quantity, dec("2"), "1688 owns the quantity");
    assert_eq!(cup.merchant_sku.as_deref(), Some("CUP-HAND-PICKED"));
    assert_eq!(cup.mapping_source.as_deref(), Some("manual"));
    assert_eq!(cup.mapping_status, "mapped");
    assert_eq!(cup.merchant_quantity, Some(dec("6")));
    let out_order_id = db
        .scalar::<String>(&format!(
            "SELECT out_order_id_1688 FROM purchase_orders WHERE id = {}",
            po.id
        ))
        .await;
    assert_eq!(out_order_id, "SF1234567890");
}

async fn a_line_1688_no_longer_lists_is_deleted_unless_the_erp_made_it_its_own(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut first = order(2002);
    first
        .lines
        .push(line(20_023, 700, "x", "Received mug", "1", "1", "1"));
    first
        .lines
        .push(line(20_024, 701, "y", "Hand-mapped plate", "1", "1", "1"));
    store
        .write_page(&target, &[prepare(first.clone(), &[])])
        .await
        .unwrap();
    db.execute(
        "UPDATE purchase_order_lines SET received_qty = 1 WHERE sub_item_id_1688 = 20023;
         UPDATE purchase_order_lines SET merchant_sku = 'PLATE', mapping_status = 'mapped', mapping_source = 'manual'
         WHERE sub_item_id_1688 = 20024;
         INSERT INTO purchase_order_lines (purchase_order_id, line_no, title, quantity, unit_price, amount, mapping_status)
         SELECT id, 9, 'Added in the ERP', 1, 1, 1, 'unmapped' FROM purchase_orders WHERE order_id_1688 = 2002;",
    )
    .await;

    // 1688 now lists only the shirt, and a new line.
    let mut changed = first.clone();
    changed.lines = vec![
        first.lines[0].clone(),
        line(20_025, 702, "z", "New bowl", "1", "3", "3"),
    ];
    store
        .write_page(&target, &[prepare(changed, &[])])
        .await
        .unwrap();

    let po = stored(&*store, 2002).await;
    let titles: Vec<&str> = po.lines.iter().map(|l| l.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "女装T恤",
            "New bowl",
            "Received mug",
            "Hand-mapped plate",
            "Added in the ERP"
        ]
    );
    assert!(po.has_unmapped);
}

async fn a_draft_follows_1688_into_cancelled_but_a_submitted_order_does_not(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut closed_on_arrival = order(3003);
    closed_on_arrival.status = "terminated".into();
    store
        .write_page(
            &target,
            &[
                prepare(order(3001), &[]),
                prepare(order(3002), &[]),
                prepare(closed_on_arrival, &[]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(stored(&*store, 3003).await.status, "cancelled");
    db.execute("UPDATE purchase_orders SET status = 'on_the_way' WHERE order_id_1688 = 3002")
        .await;

    let mut cancelled = order(3001);
    cancelled.status = "cancel".into();
    let mut terminated = order(3002);
    terminated.status = "terminated".into();
    let outcome = store
        .write_page(
            &target,
            &[prepare(cancelled, &[]), prepare(terminated, &[])],
        )
        .await
        .unwrap();

    assert_eq!(outcome.updated, 2);
    let draft = stored(&*store, 3001).await;
    assert_eq!(
        (draft.status.as_str(), draft.status_1688.as_deref()),
        ("cancelled", Some("cancel"))
    );
    let submitted = stored(&*store, 3002).await;
    assert_eq!(
        (submitted.status.as_str(), submitted.status_1688.as_deref()),
        ("on_the_way", Some("terminated"))
    );
}

async fn tombstoned_orders_are_skipped(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    store
        .add_tombstone(ACCOUNT, 4001, "warehouse MAIN deleted")
        .await
        .unwrap();
    store
        .add_tombstone(ACCOUNT, 4001, "deleted twice")
        .await
        .unwrap();
    // A tombstone of another account does not apply.
    store
        .add_tombstone("other", 4002, "warehouse deleted")
        .await
        .unwrap();

    let outcome = store
        .write_page(
            &target,
            &[prepare(order(4001), &[]), prepare(order(4002), &[])],
        )
        .await
        .unwrap();

    assert_eq!((outcome.inserted, outcome.skipped), (1, 1));
    assert!(
        store
            .find_synced_order(ACCOUNT, 4001)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_synced_order(ACCOUNT, 4002)
            .await
            .unwrap()
            .is_some()
    );
    let reason = db
        .scalar::<String>("SELECT reason FROM sync_tombstones WHERE order_id_1688 = 4001")
        .await;
    assert_eq!(reason, "warehouse MAIN deleted");
}

async fn a_failing_statement_leaves_none_of_the_page(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    store
        .write_page(&target, &[prepare(order(5001), &[])])
        .await
        .unwrap();
    match db.backend() {
        Backend::Postgres => {
            db.execute(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
                 BEGIN
                     IF NEW.title = 'BOOM' THEN RAISE EXCEPTION 'boom'; END IF;
                     RETURN NEW;
                 END $$;
                 CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON purchase_order_lines
                 FOR EACH ROW EXECUTE FUNCTION boom();",
            )
            .await
        }
        Backend::Sqlite => {
            db.execute(
                "CREATE TRIGGER boom BEFORE INSERT ON purchase_order_lines WHEN NEW.title = 'BOOM'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END;",
            )
            .await
        }
    };

    let mut changed = order(5001);
    changed.status = "waitsellersend".into();
    let mut new = order(5002);
    new.supplier = Some(SupplierRef {
        login_id: "shop-new".into(),
        member_id: None,
        name: None,
    });
    let mut exploding = order(5003);
    exploding.lines[1].title = "BOOM".into();
    let page = [
        prepare(changed, &[]),
        prepare(new, &[]),
        prepare(exploding, &[]),
    ];
    let err = store.write_page(&target, &page).await.unwrap_err();

    assert!(matches!(err, StoreError::Database(_)), "{err}");
    assert!(err.to_string().contains("boom"), "{err}");
    assert_eq!(
        stored(&*store, 5001).await.status_1688.as_deref(),
        Some("waitbuyerpay")
    );
    assert!(
        store
            .find_synced_order(ACCOUNT, 5002)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_synced_order(ACCOUNT, 5003)
            .await
            .unwrap()
            .is_none()
    );
    let totals = store.totals().await.unwrap();
    assert_eq!((totals.orders, totals.lines, totals.suppliers), (1, 2, 1));
}

async fn an_order_repeated_within_a_page_is_written_once_from_its_last_occurrence(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut newer = order(6001);
    newer.status = "waitsellersend".into();
    let page = [
        prepare(order(6001), &[]),
        prepare(order(6002), &[]),
        prepare(newer, &[]),
    ];

    let outcome = store.write_page(&target, &page).await.unwrap();

    assert_eq!((outcome.inserted, outcome.created_ids.len()), (2, 2));
    assert_eq!(
        stored(&*store, 6001).await.status_1688.as_deref(),
        Some("waitsellersend")
    );
}

async fn a_page_larger_than_one_statement_is_written_whole(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let page: Vec<IncomingOrder> = (0..1200)
        .map(|i| prepare(order(7_000_000 + i), &[shirt_mapping()]))
        .collect();

    let outcome = store.write_page(&target, &page).await.unwrap();

    assert_eq!(outcome.inserted, 1200);
    let totals = store.totals().await.unwrap();
    assert_eq!(
        (
            totals.orders,
            totals.lines,
            totals.mapped_lines,
            totals.unmapped_lines
        ),
        (1200, 2400, 1200, 1200)
    );
    assert_eq!(totals.orders_with_unmapped, 1200);
    let again = store.write_page(&target, &page).await.unwrap();
    assert_eq!(again.unchanged, 1200);
}

async fn text_with_tabs_newlines_and_backslashes_is_stored_as_given(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut odd = order(7_500_001);
    odd.lines[0].title = "tab\there\nnew line\r\\N back\\slash 女装".into();
    odd.lines[0].attributes = "\\N".into();
    odd.lines[1].unit = Some("\t".into());
    odd.out_order_id = Some("ERP\\1\t2".into());
    odd.modified_at = Some(at(1_776_470_400) + chrono::Duration::milliseconds(123));
    let page = [prepare(odd.clone(), &[shirt_mapping()])];

    store.write_page(&target, &page).await.unwrap();

    let po = stored(&*store, 7_500_001).await;
    assert_eq!(po.lines[0].title, odd.lines[0].title);
    assert_eq!(po.lines[0].attributes.as_deref(), Some("\\N"));
    let unit_and_out_order_id = db
        .scalar::<String>(
            "SELECT l.unit || '|' || p.out_order_id_1688
             FROM purchase_order_lines l JOIN purchase_orders p ON p.id = l.purchase_order_id
             WHERE p.order_id_1688 = 7500001 AND l.line_no = 2",
        )
        .await;
    assert_eq!(unit_and_out_order_id, "\t|ERP\\1\t2");
    assert_eq!(po.modified_at_1688, odd.modified_at);
    let again = store.write_page(&target, &page).await.unwrap();
    assert_eq!(again.unchanged, 1);
}

async fn suppliers_are_created_once_and_shared(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut other_shop = order(8003);
    other_shop.supplier = Some(SupplierRef {
        login_id: "shop-b".into(),
        member_id: None,
        name: Some("Shop B".into()),
    });
    let page = [
        prepare(order(8001), &[]),
        prepare(order(8002), &[]),
        prepare(other_shop, &[]),
    ];
    store.write_page(&target, &page).await.unwrap();

    assert_eq!(store.totals().await.unwrap().suppliers, 2);
    let (a, b, c) = (
        stored(&*store, 8001).await,
        stored(&*store, 8002).await,
        stored(&*store, 8003).await,
    );
    assert_eq!(a.supplier_id, b.supplier_id);
    assert_ne!(a.supplier_id, c.supplier_id);

    // A later order that names the seller without details keeps what we know; a new
    // name replaces the old one.
    let mut anonymous = order(8004);
    anonymous.supplier = Some(SupplierRef {
        login_id: "shop-a".into(),
        member_id: None,
        name: None,
    });
    let mut renamed = order(8005);
    renamed.supplier = Some(SupplierRef {
        login_id: "shop-b".into(),
        member_id: Some("b2b-2".into()),
        name: Some("Shop B Trading".into()),
    });
    store
        .write_page(&target, &[prepare(anonymous, &[]), prepare(renamed, &[])])
        .await
        .unwrap();
    assert_eq!(store.totals().await.unwrap().suppliers, 2);
    assert_eq!(stored(&*store, 8004).await.supplier_id, a.supplier_id);
    let names = db
        .scalar::<String>(
            "SELECT (SELECT name || ' ' || member_id_1688 FROM suppliers WHERE login_id_1688 = 'shop-a') || ' / ' ||
                    (SELECT name || ' ' || member_id_1688 FROM suppliers WHERE login_id_1688 = 'shop-b')",
        )
        .await;
    assert_eq!(
        names,
        "义乌市某某贸易 b2b-1623492085 / Shop B Trading b2b-2"
    );
}

// ---------------------------------------------------------------------------------------
// Imports

async fn merchant_skus_are_upserted_and_counted(db: TestDb) {
    let store = db.store().await;
    let rows = numbered([
        merchant_sku("CUP-1", Some("6901234567892")),
        merchant_sku("CUP-2", None),
    ]);
    let first = store.import_merchant_skus(&rows).await.unwrap();
    assert_eq!((first.inserted, first.updated), (2, 0));

    let again = store.import_merchant_skus(&rows).await.unwrap();
    assert_eq!((again.inserted, again.updated), (0, 0));

    // The GTIN moves from CUP-1 to CUP-2 in one file: CUP-1 gives it up first.
    let moved = numbered([
        merchant_sku("CUP-1", None),
        merchant_sku("CUP-2", Some("6901234567892")),
    ]);
    let outcome = store.import_merchant_skus(&moved).await.unwrap();
    assert_eq!((outcome.inserted, outcome.updated), (0, 2));
    let owner = db
        .scalar::<String>("SELECT sku FROM merchant_skus WHERE gtin = '6901234567892'")
        .await;
    assert_eq!(owner, "CUP-2");
}

async fn a_gtin_already_used_by_another_sku_fails_naming_the_line(db: TestDb) {
    let store = db.store().await;
    store
        .import_merchant_skus(&numbered([merchant_sku("CUP-1", Some("6901234567892"))]))
        .await
        .unwrap();

    let rows = numbered([
        merchant_sku("BOWL-1", None),
        merchant_sku("CUP-9", Some("6901234567892")),
    ]);
    let err = store.import_merchant_skus(&rows).await.unwrap_err();
    let StoreError::InvalidRow { line, message } = &err else {
        panic!("expected an invalid row, got {err}");
    };
    assert_eq!(*line, 3);
    assert!(
        message.contains("6901234567892") && message.contains("CUP-1"),
        "{message}"
    );

    let twice = numbered([
        merchant_sku("A", Some("111")),
        merchant_sku("B", Some("111")),
    ]);
    let err = store.import_merchant_skus(&twice).await.unwrap_err();
    assert!(
        err.to_string().starts_with("line 3:") && err.to_string().contains("line 2"),
        "{err}"
    );

    assert_eq!(
        db.scalar::<i64>("SELECT count(*) FROM merchant_skus").await,
        1,
        "nothing was written"
    );
}

async fn a_mapping_import_with_an_unknown_merchant_sku_fails_naming_the_line_and_writes_nothing(
    db: TestDb,
) {
    let store = db.store().await;
    store
        .import_merchant_skus(&numbered([merchant_sku("SHIRT-GREY-3XL", None)]))
        .await
        .unwrap();
    let mut unknown = shirt_mapping();
    unknown.offer_id = CUP_OFFER;
    unknown.spec_id = String::new();
    unknown.merchant_sku = "NO-SUCH-SKU".into();

    let err = store
        .import_mappings(&numbered([shirt_mapping(), unknown]))
        .await
        .unwrap_err();

    let StoreError::InvalidRow { line, message } = &err else {
        panic!("expected an invalid row, got {err}");
    };
    assert_eq!(*line, 3);
    assert!(message.contains("NO-SUCH-SKU"), "{message}");
    assert!(
        store.load_mappings().await.unwrap().is_empty(),
        "the valid row was not written either"
    );
}

async fn a_mapping_import_remaps_waiting_lines_of_unreceived_orders_only(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    // Four orders wait on the shirt: a draft, a submitted one, a received one and a
    // cancelled one. 9005 has only the shirt line.
    let mut shirt_only = order(9005);
    shirt_only.lines.truncate(1);
    let page: Vec<_> = [
        order(9001),
        order(9002),
        order(9003),
        order(9004),
        shirt_only,
    ]
    .into_iter()
    .map(|o| prepare(o, &[]))
    .collect();
    store.write_page(&target, &page).await.unwrap();
    db.execute(
        "UPDATE purchase_orders SET status = 'on_the_way' WHERE order_id_1688 = 9002;
         UPDATE purchase_orders SET status = 'received' WHERE order_id_1688 = 9003;
         UPDATE purchase_orders SET status = 'cancelled' WHERE order_id_1688 = 9004;
         UPDATE purchase_order_lines SET mapping_source = 'manual'
         WHERE sub_item_id_1688 = 90011;",
    )
    .await;
    let submitted_shirt = page[1].order.lines[0].clone();

    store
        .import_merchant_skus(&numbered([merchant_sku("SHIRT-GREY-3XL", None)]))
        .await
        .unwrap();
    let outcome = store
        .import_mappings(&numbered([shirt_mapping()]))
        .await
        .unwrap();

    assert_eq!((outcome.inserted, outcome.updated), (1, 0));
    assert_eq!((outcome.lines_remapped, outcome.orders_remapped), (2, 2));
    let expected = MappingTarget {
        merchant_sku: "SHIRT-GREY-3XL".into(),
        quantity_ratio: dec("10"),
    }
    .apply(&submitted_shirt)
    .expect("a ratio of 10 converts");
    let submitted = stored(&*store, 9002).await;
    let shirt = &submitted.lines[0];
    assert_eq!(shirt.merchant_sku.as_deref(), Some("SHIRT-GREY-3XL"));
    assert_eq!(
        (
            shirt.mapping_status.as_str(),
            shirt.mapping_source.as_deref()
        ),
        ("mapped", Some("mapping"))
    );
    assert_eq!(shirt.merchant_quantity, Some(expected.merchant_quantity));
    assert_eq!(shirt.merchant_unit_cost, Some(expected.merchant_unit_cost));
    assert!(submitted.has_unmapped, "its cup still waits");
    assert!(!stored(&*store, 9005).await.has_unmapped);
    for (order_id, why) in [
        (9001, "a manual line"),
        (9003, "a received order"),
        (9004, "a cancelled order"),
    ] {
        let po = stored(&*store, order_id).await;
        assert_eq!(po.lines[0].merchant_sku, None, "{why} is not re-mapped");
    }
    assert_eq!(store.load_mappings().await.unwrap(), [shirt_mapping()]);

    let mut ratio_changed = shirt_mapping();
    ratio_changed.quantity_ratio = dec("12");
    let again = store
        .import_mappings(&numbered([ratio_changed]))
        .await
        .unwrap();
    assert_eq!(
        (again.inserted, again.updated, again.lines_remapped),
        (0, 1, 0)
    );
}

// ---------------------------------------------------------------------------------------
// Runs, summaries, warehouses

async fn begin_run_closes_runs_that_a_dead_process_left_running(db: TestDb) {
    let store = db.store().await;
    let stale = store
        .begin_run(ACCOUNT, RunKind::Window, window())
        .await
        .unwrap();
    let other_account = store
        .begin_run("other", RunKind::Changes, window())
        .await
        .unwrap();

    let current = store
        .begin_run(ACCOUNT, RunKind::Backfill, window())
        .await
        .unwrap();

    let runs: HashMap<i64, _> = store
        .recent_runs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    assert_eq!(runs[&stale].status, "failed");
    assert_eq!(
        runs[&stale].error.as_deref(),
        Some("interrupted: the process stopped before the run finished")
    );
    assert!(runs[&stale].finished_at.is_some());
    assert_eq!(runs[&other_account].status, "running");
    assert_eq!(
        (runs[&current].status.as_str(), runs[&current].kind.as_str()),
        ("running", "backfill")
    );
    assert_eq!(
        (runs[&current].window_start, runs[&current].window_end),
        (window().start, window().end)
    );

    let counts = RunCounts {
        orders_seen: 7,
        orders_inserted: 3,
        orders_updated: 2,
        orders_unchanged: 1,
        orders_skipped: 1,
        lines_unmapped: 4,
        pages: 2,
    };
    store
        .finish_run(current, RunStatus::Succeeded, &counts, None)
        .await
        .unwrap();
    let newest = store.recent_runs(1).await.unwrap().remove(0);
    assert_eq!(newest.id, current);
    assert_eq!(newest.status, "succeeded");
    assert_eq!(newest.counts, counts);
    assert_eq!(newest.error, None);
    assert!(newest.finished_at.unwrap() >= newest.started_at);
}

async fn unmapped_items_and_totals_count_the_waiting_lines(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut two_cups = order(10_003);
    two_cups
        .lines
        .push(line(100_039, CUP_OFFER, "", "Cup", "1", "2.4", "2.4"));
    let page = [
        prepare(order(10_001), &[shirt_mapping()]),
        prepare(order(10_002), &[]),
        prepare(two_cups, &[shirt_mapping()]),
    ];
    store.write_page(&target, &page).await.unwrap();

    let items = store.unmapped_items(10).await.unwrap();

    let summary: Vec<_> = items
        .iter()
        .map(|i| (i.offer_id, i.spec_id.as_str(), i.lines, i.orders))
        .collect();
    assert_eq!(
        summary,
        [(CUP_OFFER, "", 4, 3), (SHIRT_OFFER, SHIRT_SPEC, 1, 1)]
    );
    assert_eq!(items[0].title, "Cup");
    assert_eq!(items[1].attributes, "颜色:深灰色; 尺码:3XL");
    assert_eq!(store.unmapped_items(1).await.unwrap().len(), 1);
    let totals = store.totals().await.unwrap();
    assert_eq!(
        (
            totals.orders,
            totals.lines,
            totals.mapped_lines,
            totals.unmapped_lines,
            totals.orders_with_unmapped
        ),
        (3, 7, 2, 5, 3)
    );
}

async fn ensure_warehouse_creates_a_warehouse_once(db: TestDb) {
    let store = db.store().await;
    let main = store.ensure_warehouse("MAIN").await.unwrap();
    assert_eq!(store.ensure_warehouse("MAIN").await.unwrap(), main);
    assert_ne!(store.ensure_warehouse("SECOND").await.unwrap(), main);
    let name = db
        .scalar::<String>("SELECT name FROM warehouses WHERE code = 'MAIN'")
        .await;
    assert_eq!(name, "MAIN");
    store.ping().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Leases and fencing

/// Long enough never to run out during a test: expiry is simulated with `expire_lease`.
const TTL: Duration = Duration::from_secs(60);

/// Lets the lease of `account` run out, as if its holder had stopped renewing it.
async fn expire_lease(db: &TestDb, account: &str) {
    let rows = db
        .execute(&format!(
            "UPDATE sync_leases SET lease_until = '2000-01-01T00:00:00.000Z' WHERE account = '{account}'"
        ))
        .await;
    assert_eq!(rows, 1, "no lease row for {account}");
}

async fn a_lease_is_granted_once_and_taken_over_only_after_it_expires(db: TestDb) {
    let store = db.store().await;

    let first = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .expect("a free lease is granted");
    let refused = store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap();
    let renewed = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .expect("the holder may claim again");
    let other_account = store
        .try_claim_lease("other", "host-b:2", TTL)
        .await
        .unwrap();

    assert_eq!(
        (first.fence.account.as_str(), first.fence.owner.as_str()),
        (ACCOUNT, "host-a:1")
    );
    assert!(
        refused.is_none(),
        "a live lease is refused to another owner"
    );
    assert_eq!(renewed.fence, first.fence, "renewing keeps the generation");
    assert!(renewed.until >= first.until);
    assert!(other_account.is_some(), "each account has its own lease");

    expire_lease(&db, ACCOUNT).await;
    let taken = store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .expect("an expired lease is taken over");

    assert_eq!(taken.fence.owner, "host-b:2");
    assert!(taken.fence.generation > first.fence.generation);
    let rows = store.leases().await.unwrap();
    assert_eq!(
        rows[0],
        LeaseRow {
            account: ACCOUNT.into(),
            owner: Some("host-b:2".into()),
            lease_until: Some(taken.until),
            generation: taken.fence.generation,
        }
    );
    assert_eq!(rows.len(), 2);

    // The same on the database clock, with a lease that really runs out.
    store
        .try_claim_lease("short", "host-a:1", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .try_claim_lease("short", "host-b:2", TTL)
            .await
            .unwrap()
            .is_none()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        store
            .try_claim_lease("short", "host-b:2", TTL)
            .await
            .unwrap()
            .is_some()
    );
}

async fn the_old_holder_can_neither_renew_nor_release_a_lease_taken_over(db: TestDb) {
    let store = db.store().await;
    let old = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .unwrap();
    expire_lease(&db, ACCOUNT).await;
    let new = store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .unwrap();

    let renewed = store.renew_lease(&old.fence, TTL).await.unwrap();
    store.release_lease(&old.fence).await.unwrap();

    assert_eq!(renewed, None);
    assert!(
        store
            .try_claim_lease(ACCOUNT, "host-c:3", TTL)
            .await
            .unwrap()
            .is_none(),
        "the old holder's release did not free the new holder's lease"
    );
    let until = store.renew_lease(&new.fence, TTL).await.unwrap();
    assert!(until.is_some_and(|u| u >= new.until));
    // A lease that ran out while nobody took it is still its holder's to renew.
    expire_lease(&db, ACCOUNT).await;
    assert!(store.renew_lease(&new.fence, TTL).await.unwrap().is_some());
}

async fn a_released_lease_can_be_claimed_at_once(db: TestDb) {
    let store = db.store().await;
    let a = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .unwrap();

    store.release_lease(&a.fence).await.unwrap();

    assert_eq!(store.leases().await.unwrap()[0].owner, None);
    let b = store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .expect("a released lease is free");
    assert!(b.fence.generation > a.fence.generation);
    assert_eq!(store.renew_lease(&a.fence, TTL).await.unwrap(), None);
    // Released and claimed again by the same owner: a new generation all the same, so
    // that fences from before the release stay invalid.
    store.release_lease(&b.fence).await.unwrap();
    let b_again = store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(b_again.fence.generation > b.fence.generation);
}

async fn only_one_of_several_simultaneous_claims_wins(db: TestDb) {
    let store = db.store().await;
    let claims: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .try_claim_lease(ACCOUNT, &format!("host-{i}"), TTL)
                    .await
                    .unwrap()
            })
        })
        .collect();

    let mut granted = Vec::new();
    for claim in claims {
        granted.extend(claim.await.unwrap());
    }

    assert_eq!(granted.len(), 1, "{granted:?}");
    let rows = store.leases().await.unwrap();
    assert_eq!(
        rows[0].owner.as_deref(),
        Some(granted[0].fence.owner.as_str())
    );
}

async fn a_page_written_under_a_lost_lease_rolls_back_and_writes_nothing(db: TestDb) {
    let store = db.store().await;
    let mut target = target(&*store).await;
    let old = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .unwrap();
    target.fence = Some(old.fence.clone());
    store
        .write_page(&target, &[prepare(order(11_001), &[])])
        .await
        .expect("a page written under a held lease commits");
    expire_lease(&db, ACCOUNT).await;
    let new = store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .unwrap();

    let mut changed = order(11_001);
    changed.status = "waitsellersend".into();
    let mut from_a_new_shop = order(11_002);
    from_a_new_shop.supplier = Some(SupplierRef {
        login_id: "shop-new".into(),
        member_id: None,
        name: None,
    });
    let page = [prepare(changed, &[]), prepare(from_a_new_shop, &[])];
    let err = store.write_page(&target, &page).await.unwrap_err();

    assert!(
        matches!(&err, StoreError::LeaseLost { account } if account == ACCOUNT),
        "{err}"
    );
    assert_eq!(
        stored(&*store, 11_001).await.status_1688.as_deref(),
        Some("waitbuyerpay")
    );
    let totals = store.totals().await.unwrap();
    assert_eq!((totals.orders, totals.lines, totals.suppliers), (1, 2, 1));
    // Even a page that would write nothing tells the old holder it lost the lease.
    let unchanged = store
        .write_page(&target, &[prepare(order(11_001), &[])])
        .await;
    assert!(matches!(unchanged, Err(StoreError::LeaseLost { .. })));
    // Nor can it check the lease any more.
    assert!(matches!(
        store.check_lease(&old.fence).await,
        Err(StoreError::LeaseLost { .. })
    ));
    store.check_lease(&new.fence).await.unwrap();
    // A fence proves nothing about another account.
    let mut elsewhere = target.clone();
    elsewhere.account = "other".into();
    assert!(matches!(
        store.write_page(&elsewhere, &page).await,
        Err(StoreError::LeaseLost { .. })
    ));

    target.fence = Some(new.fence.clone());
    let outcome = store.write_page(&target, &page).await.unwrap();
    assert_eq!((outcome.inserted, outcome.updated), (1, 1));
    // A lease that ran out stops writes even when nobody took it; renewing resumes them.
    expire_lease(&db, ACCOUNT).await;
    let next = [prepare(order(11_003), &[])];
    assert!(matches!(
        store.write_page(&target, &next).await,
        Err(StoreError::LeaseLost { .. })
    ));
    store.renew_lease(&new.fence, TTL).await.unwrap().unwrap();
    assert_eq!(store.write_page(&target, &next).await.unwrap().inserted, 1);
}

async fn the_change_cursor_only_moves_forward_and_respects_the_fence(db: TestDb) {
    let store = db.store().await;
    assert_eq!(store.change_cursor(ACCOUNT).await.unwrap(), None);

    store
        .advance_change_cursor(ACCOUNT, at(1_776_500_000), None)
        .await
        .unwrap();
    store
        .advance_change_cursor(ACCOUNT, at(1_776_400_000), None)
        .await
        .unwrap();

    assert_eq!(
        store.change_cursor(ACCOUNT).await.unwrap(),
        Some(at(1_776_500_000)),
        "the cursor never moves back"
    );
    assert_eq!(store.change_cursor("other").await.unwrap(), None);

    let old = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .unwrap();
    store
        .advance_change_cursor(ACCOUNT, at(1_776_600_000), Some(&old.fence))
        .await
        .unwrap();
    expire_lease(&db, ACCOUNT).await;
    store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .unwrap();

    let err = store
        .advance_change_cursor(ACCOUNT, at(1_776_700_000), Some(&old.fence))
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::LeaseLost { .. }), "{err}");
    assert_eq!(
        store.change_cursor(ACCOUNT).await.unwrap(),
        Some(at(1_776_600_000))
    );
}

async fn a_backfill_resumes_where_it_stopped_until_finished(db: TestDb) {
    let store = db.store().await;
    let w = window();

    let opened = store.open_backfill(ACCOUNT, w).await.unwrap();
    store
        .backfill_progress(opened.id, at(1_776_550_000))
        .await
        .unwrap();
    store
        .backfill_progress(opened.id, at(1_776_500_000))
        .await
        .unwrap();
    let resumed = store.open_backfill(ACCOUNT, w).await.unwrap();

    assert_eq!(
        (
            opened.account.as_str(),
            opened.window_start,
            opened.window_end,
            opened.done_until,
            opened.finished
        ),
        (ACCOUNT, w.start, w.end, None, false)
    );
    assert_eq!(resumed.id, opened.id);
    assert_eq!(
        resumed.done_until,
        Some(at(1_776_550_000)),
        "progress only moves forward"
    );
    let longer = SyncWindow {
        end: at(1_776_800_000),
        ..w
    };
    let other_window = store.open_backfill(ACCOUNT, longer).await.unwrap();
    let other_account = store.open_backfill("other", w).await.unwrap();
    assert_eq!(
        HashSet::from([opened.id, other_window.id, other_account.id]).len(),
        3
    );

    store.finish_backfill(opened.id).await.unwrap();
    let after = store.open_backfill(ACCOUNT, w).await.unwrap();

    assert_ne!(after.id, opened.id, "a finished backfill is not resumed");
    assert_eq!((after.done_until, after.finished), (None, false));
    let finished = db
        .scalar::<i64>("SELECT count(*) FROM sync_backfills WHERE finished_at IS NOT NULL")
        .await;
    assert_eq!(finished, 1);
}

/// Records a run of `account` that ended with `status` (or is still running); its id.
async fn recorded_run(
    store: &dyn Store,
    account: &str,
    status: RunStatus,
    error: Option<&str>,
) -> i64 {
    let id = store
        .begin_run(account, RunKind::Window, window())
        .await
        .unwrap();
    if status != RunStatus::Running {
        store
            .finish_run(id, status, &RunCounts::default(), error)
            .await
            .unwrap();
    }
    id
}

async fn old_runs_are_trimmed_but_the_latest_success_and_running_runs_stay(db: TestDb) {
    let store = db.store().await;
    let run = |account, status| recorded_run(&*store, account, status, None);
    run("main", RunStatus::Succeeded).await;
    run("main", RunStatus::Failed).await;
    let last_success = run("main", RunStatus::Succeeded).await;
    run("main", RunStatus::Failed).await;
    let running = run("main", RunStatus::Running).await;
    let other = run("other", RunStatus::Failed).await;
    let ids = || async {
        let mut ids: Vec<i64> = store
            .recent_runs(20)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    };
    let now = Utc::now();

    // Nothing started before a day ago.
    let kept = store
        .trim_runs("main", now - chrono::TimeDelta::days(1))
        .await
        .unwrap();
    assert_eq!(kept, 0);
    assert_eq!(ids().await.len(), 6);

    let deleted = store
        .trim_runs("main", now + chrono::TimeDelta::minutes(1))
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    assert_eq!(ids().await, [last_success, running, other]);
    // Readiness still finds the last success.
    let status = store.account_run_status().await.unwrap();
    let main = status.iter().find(|s| s.account == "main").unwrap();
    assert!(main.last_success.is_some());
}

async fn account_run_status_counts_the_failures_since_the_last_success(db: TestDb) {
    let store = db.store().await;
    let run = |account, status, error| recorded_run(&*store, account, status, error);
    run("main", RunStatus::Succeeded, None).await;
    run("main", RunStatus::Failed, Some("gateway timeout")).await;
    let last_success = run("main", RunStatus::Succeeded, None).await;
    run("main", RunStatus::Failed, Some("gateway timeout")).await;
    run("main", RunStatus::Failed, Some("rate limited")).await;
    run("main", RunStatus::Running, None).await;
    run("recovered", RunStatus::Failed, Some("token expired")).await;
    let recovered = run("recovered", RunStatus::Succeeded, None).await;
    run("never", RunStatus::Failed, Some("bad app key")).await;
    run("never", RunStatus::Failed, Some("bad app secret")).await;
    run("starting", RunStatus::Running, None).await;

    let status = store.account_run_status().await.unwrap();

    let finished_at: HashMap<i64, _> = store
        .recent_runs(20)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.finished_at))
        .collect();
    let expected = [
        ("main", finished_at[&last_success], 2, Some("rate limited")),
        ("never", None, 2, Some("bad app secret")),
        ("recovered", finished_at[&recovered], 0, None),
        ("starting", None, 0, None),
    ]
    .map(
        |(account, last_success, failures, error)| AccountRunStatus {
            account: account.into(),
            last_success,
            consecutive_failures: failures,
            last_error: error.map(str::to_owned),
        },
    );
    assert_eq!(status, expected);
}

// ---------------------------------------------------------------------------------------
// Products, suppliers and mappings

const SHIRT_RED: &str = "spec-red";
const SHIRT_BLUE: &str = "spec-blue";

fn product_sku(spec_id: &str, price: &str) -> ProductSku1688 {
    ProductSku1688 {
        spec_id: spec_id.into(),
        sku_id: Some(3_753_684_468_637),
        attributes: format!("颜色:{spec_id}"),
        price: Some(dec(price)),
        cargo_number: Some(format!("CN-{spec_id}")),
        stock: Some(120),
    }
}

fn product(offer_id: i64, supplier: &str, skus: Vec<ProductSku1688>) -> Product1688 {
    Product1688 {
        offer_id,
        subject: format!("Offer {offer_id}"),
        status: "published".into(),
        supplier: SupplierRef {
            login_id: supplier.into(),
            member_id: Some("b2b-1623492085".into()),
            name: Some("义乌市某某贸易".into()),
        },
        category: Some("女装".into()),
        unit: Some("件".into()),
        min_order_quantity: Some(dec("2")),
        price_ranges: vec![
            PriceRange {
                start_quantity: dec("2"),
                price: dec("3.50"),
            },
            PriceRange {
                start_quantity: dec("100"),
                price: dec("2.80"),
            },
        ],
        skus,
    }
}

fn the_shirt() -> Product1688 {
    product(
        SHIRT_OFFER,
        "shop-a",
        vec![
            product_sku(SHIRT_RED, "3.50"),
            product_sku(SHIRT_BLUE, "3.50"),
        ],
    )
}

fn mapping(offer_id: i64, spec_id: &str, merchant_sku: &str) -> SkuMapping {
    SkuMapping {
        offer_id,
        spec_id: spec_id.into(),
        merchant_sku: merchant_sku.into(),
        quantity_ratio: Decimal::ONE,
    }
}

async fn suppliers(store: &dyn Store) -> HashMap<String, SupplierRow> {
    store
        .list_suppliers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.login_id_1688.clone(), s))
        .collect()
}

/// Like [`row_versions`], for the rows a product add writes.
async fn product_row_versions(db: &TestDb) -> String {
    let sql = match db.backend() {
        Backend::Postgres => {
            "SELECT concat(
                 (SELECT string_agg(offer_id || ':' || xmin || ':' || xmax, ',' ORDER BY offer_id) FROM products_1688), '|',
                 (SELECT string_agg(offer_id || spec_id || ':' || xmin || ':' || xmax, ',' ORDER BY offer_id, spec_id) FROM product_skus_1688), '|',
                 (SELECT string_agg(id || ':' || xmin || ':' || xmax, ',' ORDER BY id) FROM suppliers))"
        }
        Backend::Sqlite => {
            "SELECT (SELECT group_concat(offer_id || ':' || updated_at, ',') FROM products_1688) || '|' ||
                    (SELECT group_concat(offer_id || spec_id || ':' || updated_at, ',') FROM product_skus_1688) || '|' ||
                    (SELECT group_concat(id || ':' || updated_at, ',') FROM suppliers) || '|' ||
                    (SELECT count(*) FROM product_writes)"
        }
    };
    db.scalar::<String>(sql).await
}

async fn count_product_writes(db: &TestDb) {
    if db.backend() == Backend::Sqlite {
        db.execute(
            "CREATE TABLE product_writes (tbl TEXT);
             CREATE TRIGGER product_updated AFTER UPDATE ON products_1688 BEGIN INSERT INTO product_writes VALUES ('p'); END;
             CREATE TRIGGER sku_updated AFTER UPDATE ON product_skus_1688 BEGIN INSERT INTO product_writes VALUES ('s'); END;
             CREATE TRIGGER sku_inserted AFTER INSERT ON product_skus_1688 BEGIN INSERT INTO product_writes VALUES ('s+'); END;
             CREATE TRIGGER sku_deleted AFTER DELETE ON product_skus_1688 BEGIN INSERT INTO product_writes VALUES ('s-'); END;
             CREATE TRIGGER supplier_updated AFTER UPDATE ON suppliers BEGIN INSERT INTO product_writes VALUES ('sup'); END;",
        )
        .await;
    }
}

async fn a_product_add_creates_its_supplier_once_and_sync_uses_the_same_row(db: TestDb) {
    let store = db.store().await;

    let first = store.upsert_product(&the_shirt()).await.unwrap();
    // The supplier of the second offer comes without details: what we know stays.
    let mut cup = product(CUP_OFFER, "shop-a", vec![product_sku("", "2.4")]);
    cup.supplier.member_id = None;
    cup.supplier.name = None;
    let second = store.upsert_product(&cup).await.unwrap();

    assert_eq!(
        (first, second),
        (ProductUpsert::Added, ProductUpsert::Added)
    );
    let listed = store.list_suppliers().await.unwrap();
    assert_eq!(
        listed,
        [SupplierRow {
            id: listed[0].id,
            login_id_1688: "shop-a".into(),
            member_id_1688: Some("b2b-1623492085".into()),
            name: Some("义乌市某某贸易".into()),
            products: 2,
            purchase_orders: 0,
        }]
    );

    // A synced order of the same seller finds the row the product add made.
    let target = target(&*store).await;
    store
        .write_page(&target, &[prepare(order(1), &[])])
        .await
        .unwrap();

    assert_eq!(stored(&*store, 1).await.supplier_id, Some(listed[0].id));
    let after = store.list_suppliers().await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!((after[0].products, after[0].purchase_orders), (2, 1));

    // And the other way round: a product of a seller that sync created first.
    let mut from_shop_b = order(2);
    from_shop_b.supplier = Some(SupplierRef {
        login_id: "shop-b".into(),
        member_id: Some("b2b-2".into()),
        name: Some("Shop B".into()),
    });
    store
        .write_page(&target, &[prepare(from_shop_b, &[])])
        .await
        .unwrap();
    let mut bowl = product(700, "shop-b", vec![product_sku("", "9")]);
    bowl.supplier.member_id = None;
    bowl.supplier.name = Some("Shop B Trading".into());
    store.upsert_product(&bowl).await.unwrap();

    let by_login = suppliers(&*store).await;
    assert_eq!(by_login.len(), 2);
    let shop_b = &by_login["shop-b"];
    assert_eq!(Some(shop_b.id), stored(&*store, 2).await.supplier_id);
    assert_eq!(
        (shop_b.member_id_1688.as_deref(), shop_b.name.as_deref()),
        (Some("b2b-2"), Some("Shop B Trading"))
    );
    assert_eq!(store.totals().await.unwrap().suppliers, 2);
}

async fn adding_an_unchanged_product_again_writes_nothing(db: TestDb) {
    let store = db.store().await;
    count_product_writes(&db).await;
    store.upsert_product(&the_shirt()).await.unwrap();
    let before = product_row_versions(&db).await;
    let updated_at = db
        .scalar::<String>("SELECT CAST(updated_at AS TEXT) FROM products_1688")
        .await;

    // The same content read again: other trailing zeros, SKUs in another order.
    let mut again = the_shirt();
    again.skus.reverse();
    again.skus[0].price = Some(dec("3.5"));
    again.price_ranges[1].price = dec("2.800");
    let outcome = store.upsert_product(&again).await.unwrap();

    assert_eq!(outcome, ProductUpsert::Unchanged);
    assert_eq!(
        product_row_versions(&db).await,
        before,
        "a row was written or locked"
    );
    assert_eq!(
        db.scalar::<String>("SELECT CAST(updated_at AS TEXT) FROM products_1688")
            .await,
        updated_at
    );
    let prices: Vec<_> = store
        .product_skus(Some(SHIRT_OFFER))
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.price.unwrap().to_string())
        .collect();
    assert_eq!(prices, ["3.50", "3.50"], "the first add's values stay");
}

async fn a_changed_product_replaces_its_skus(db: TestDb) {
    let store = db.store().await;
    store.upsert_product(&the_shirt()).await.unwrap();
    let cup = product(CUP_OFFER, "shop-b", vec![product_sku("", "2.4")]);
    store.upsert_product(&cup).await.unwrap();

    // 1688 dropped the red shirt, repriced the blue one and added a green one; the offer
    // moved to another seller and expired.
    let mut changed = the_shirt();
    changed.subject = "女装T恤 2026".into();
    changed.status = "expired".into();
    changed.supplier.login_id = "shop-c".into();
    changed.min_order_quantity = None;
    changed.price_ranges.truncate(1);
    changed.skus = vec![
        product_sku(SHIRT_BLUE, "4.00"),
        product_sku("spec-green", "3.9"),
    ];
    let outcome = store.upsert_product(&changed).await.unwrap();

    assert_eq!(outcome, ProductUpsert::Updated);
    let skus = store.product_skus(None).await.unwrap();
    let summary: Vec<_> = skus
        .iter()
        .map(|s| {
            (
                s.offer_id,
                s.spec_id.as_str(),
                s.subject.as_str(),
                s.supplier_login_id.as_str(),
                s.price,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                SHIRT_OFFER,
                SHIRT_BLUE,
                "女装T恤 2026",
                "shop-c",
                Some(dec("4.00"))
            ),
            (
                SHIRT_OFFER,
                "spec-green",
                "女装T恤 2026",
                "shop-c",
                Some(dec("3.9"))
            ),
            (
                CUP_OFFER,
                "",
                "Offer 600000000001",
                "shop-b",
                Some(dec("2.4"))
            ),
        ]
    );
    assert_eq!(
        skus[0],
        StoredProductSku {
            offer_id: SHIRT_OFFER,
            spec_id: SHIRT_BLUE.into(),
            sku_id: Some(3_753_684_468_637),
            subject: "女装T恤 2026".into(),
            attributes: "颜色:spec-blue".into(),
            price: Some(dec("4.00")),
            supplier_login_id: "shop-c".into(),
            merchant_sku: None,
            quantity_ratio: None,
            product_status: skus[0].product_status.clone(),
            min_order_quantity: skus[0].min_order_quantity,
        }
    );
    assert_eq!(
        skus[0].product_status, "expired",
        "the changed product was expired on 1688"
    );
    assert_eq!(store.product_skus(Some(CUP_OFFER)).await.unwrap().len(), 1);
    assert!(store.product_skus(Some(1)).await.unwrap().is_empty());

    // What other tools see: exact decimals, the status as 1688 sent it.
    let raw = db
        .scalar::<String>(&format!(
            "SELECT status || ' ' || coalesce(CAST(min_order_quantity AS TEXT), '-') || ' ' || CAST(price_ranges AS TEXT)
             FROM products_1688 WHERE offer_id = {SHIRT_OFFER}"
        ))
        .await;
    assert!(raw.starts_with("expired - ["), "{raw}");
    assert!(
        raw.contains(r#""3.50""#) && raw.contains(r#""start_quantity""#) && !raw.contains("2.80"),
        "{raw}"
    );
    let stock = db
        .scalar::<i64>(&format!(
            "SELECT stock FROM product_skus_1688 WHERE offer_id = {SHIRT_OFFER} AND spec_id = 'spec-green'"
        ))
        .await;
    assert_eq!(stock, 120);
    let by_login = suppliers(&*store).await;
    assert_eq!(
        (by_login["shop-a"].products, by_login["shop-c"].products),
        (0, 1)
    );
}

async fn set_mappings_checks_merchant_skus_and_the_skus_of_stored_products(db: TestDb) {
    let store = db.store().await;
    store
        .import_merchant_skus(&numbered([
            merchant_sku("SHIRT-RED", None),
            merchant_sku("SHIRT-BLUE", None),
            merchant_sku("CUP-1", None),
        ]))
        .await
        .unwrap();
    store.upsert_product(&the_shirt()).await.unwrap();

    let unknown_sku = numbered([
        mapping(SHIRT_OFFER, SHIRT_RED, "SHIRT-RED"),
        mapping(SHIRT_OFFER, SHIRT_BLUE, "NO-SUCH-SKU"),
    ]);
    let err = store.set_mappings(&unknown_sku, true).await.unwrap_err();
    let StoreError::InvalidRow { line, message } = &err else {
        panic!("expected an invalid row, got {err}");
    };
    assert_eq!(*line, 3);
    assert!(message.contains("NO-SUCH-SKU"), "{message}");

    let typo = numbered([
        mapping(SHIRT_OFFER, SHIRT_RED, "SHIRT-RED"),
        mapping(CUP_OFFER, "", "CUP-1"),
        mapping(SHIRT_OFFER, "spec-reed", "SHIRT-BLUE"),
    ]);
    let err = store.set_mappings(&typo, false).await.unwrap_err();
    let StoreError::InvalidRow { line, message } = &err else {
        panic!("expected an invalid row, got {err}");
    };
    assert_eq!(*line, 4);
    assert!(
        message.contains("spec-reed")
            && message.contains(&SHIRT_OFFER.to_string())
            && message.contains("not a SKU")
            && message.contains("--force"),
        "{message}"
    );
    let imported = store.import_mappings(&typo).await.unwrap_err();
    assert!(
        imported.to_string().starts_with("line 4:"),
        "an import is checked the same way: {imported}"
    );
    assert!(
        store.load_mappings().await.unwrap().is_empty(),
        "nothing was written"
    );

    let forced = store.set_mappings(&typo, true).await.unwrap();
    assert_eq!(
        forced,
        MappingChange {
            inserted: 3,
            ..MappingChange::default()
        }
    );
    // An offer without a stored product takes any spec id.
    let unknown_offer = numbered([mapping(CUP_OFFER, "any-spec", "CUP-1")]);
    assert_eq!(
        store
            .set_mappings(&unknown_offer, false)
            .await
            .unwrap()
            .inserted,
        1
    );
    let mut ratio_changed = mapping(SHIRT_OFFER, SHIRT_RED, "SHIRT-RED");
    ratio_changed.quantity_ratio = dec("2");
    let again = store
        .set_mappings(
            &numbered([
                ratio_changed,
                mapping(SHIRT_OFFER, SHIRT_BLUE, "SHIRT-BLUE"),
            ]),
            false,
        )
        .await
        .unwrap();
    assert_eq!((again.inserted, again.updated), (1, 1));
    assert_eq!(store.load_mappings().await.unwrap().len(), 5);

    let merchant: Vec<_> = store
        .product_skus(Some(SHIRT_OFFER))
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.spec_id, s.merchant_sku))
        .collect();
    assert_eq!(
        merchant,
        [
            (SHIRT_BLUE.to_owned(), Some("SHIRT-BLUE".to_owned())),
            (SHIRT_RED.to_owned(), Some("SHIRT-RED".to_owned())),
        ]
    );
}

async fn set_mappings_remaps_exactly_the_waiting_lines_of_unreceived_orders(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    store
        .upsert_product(&product(
            SHIRT_OFFER,
            "shop-a",
            vec![product_sku(SHIRT_SPEC, "12.5")],
        ))
        .await
        .unwrap();
    // The shirt waits in a draft (its line made manual), a submitted order, a received
    // one, a cancelled one, a partially received one with only the shirt, and a draft
    // whose shirt the ERP mapped by hand.
    let mut shirt_only = order(9005);
    shirt_only.lines.truncate(1);
    let page: Vec<_> = [
        order(9001),
        order(9002),
        order(9003),
        order(9004),
        shirt_only,
        order(9006),
    ]
    .into_iter()
    .map(|o| prepare(o, &[]))
    .collect();
    store.write_page(&target, &page).await.unwrap();
    db.execute(
        "UPDATE purchase_orders SET status = 'on_the_way' WHERE order_id_1688 = 9002;
         UPDATE purchase_orders SET status = 'received' WHERE order_id_1688 = 9003;
         UPDATE purchase_orders SET status = 'cancelled' WHERE order_id_1688 = 9004;
         UPDATE purchase_orders SET status = 'partially_received' WHERE order_id_1688 = 9005;
         UPDATE purchase_order_lines SET mapping_source = 'manual' WHERE sub_item_id_1688 = 90011;
         UPDATE purchase_order_lines
         SET merchant_sku = 'HAND-PICKED', mapping_status = 'mapped', mapping_source = 'manual',
             merchant_quantity = '3', merchant_unit_cost = '12.5'
         WHERE sub_item_id_1688 = 90061;",
    )
    .await;
    store
        .import_merchant_skus(&numbered([merchant_sku("SHIRT-GREY-3XL", None)]))
        .await
        .unwrap();

    let change = store
        .set_mappings(&numbered([shirt_mapping()]), false)
        .await
        .unwrap();

    assert_eq!(
        change,
        MappingChange {
            inserted: 1,
            updated: 0,
            deleted: 0,
            lines_remapped: 2,
            orders_remapped: 2,
        }
    );
    let expected = MappingTarget {
        merchant_sku: "SHIRT-GREY-3XL".into(),
        quantity_ratio: dec("10"),
    }
    .apply(&page[1].order.lines[0])
    .expect("a ratio of 10 converts");
    for order_id in [9002, 9005] {
        let shirt = stored(&*store, order_id).await.lines.remove(0);
        assert_eq!(
            (
                shirt.merchant_sku.as_deref(),
                shirt.mapping_status.as_str(),
                shirt.mapping_source.as_deref(),
                shirt.merchant_quantity,
                shirt.merchant_unit_cost
            ),
            (
                Some("SHIRT-GREY-3XL"),
                "mapped",
                Some("mapping"),
                Some(expected.merchant_quantity),
                Some(expected.merchant_unit_cost)
            ),
            "order {order_id}"
        );
    }
    assert!(
        stored(&*store, 9002).await.has_unmapped,
        "its cup still waits"
    );
    assert!(!stored(&*store, 9005).await.has_unmapped);
    for (order_id, why) in [
        (9001, "a manual line"),
        (9003, "a received order"),
        (9004, "a cancelled order"),
    ] {
        let po = stored(&*store, order_id).await;
        assert_eq!(
            (
                po.lines[0].merchant_sku.as_deref(),
                po.lines[0].mapping_status.as_str()
            ),
            (None, "unmapped"),
            "{why} is not re-mapped"
        );
        assert!(po.has_unmapped, "{why}");
    }
    let hand_picked = stored(&*store, 9006).await.lines.remove(0);
    assert_eq!(
        (
            hand_picked.merchant_sku.as_deref(),
            hand_picked.mapping_source.as_deref(),
            hand_picked.merchant_quantity
        ),
        (Some("HAND-PICKED"), Some("manual"), Some(dec("3")))
    );

    let again = store
        .set_mappings(&numbered([shirt_mapping()]), false)
        .await
        .unwrap();
    assert_eq!(again, MappingChange::default());
}

async fn the_unmapped_view_counts_waiting_lines_and_dates_the_oldest_order(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let created = |order_id: i64, secs: i64| {
        let mut o = order(order_id);
        o.created_at = at(secs);
        o
    };
    let mut two_cups = created(10_001, 1_776_470_400);
    two_cups
        .lines
        .push(line(100_019, CUP_OFFER, "", "Cup", "1", "2.4", "2.4"));
    let page: Vec<_> = [
        two_cups,
        created(10_002, 1_776_400_000),
        // Received and cancelled: their lines wait on nothing.
        created(10_003, 1_776_000_000),
        created(10_004, 1_776_000_000),
        // Its cup was chosen by hand: only its shirt waits.
        created(10_005, 1_776_300_000),
    ]
    .into_iter()
    .map(|o| prepare(o, &[]))
    .collect();
    store.write_page(&target, &page).await.unwrap();
    db.execute(
        "UPDATE purchase_orders SET status = 'on_the_way' WHERE order_id_1688 = 10002;
         UPDATE purchase_orders SET status = 'received' WHERE order_id_1688 = 10003;
         UPDATE purchase_orders SET status = 'cancelled' WHERE order_id_1688 = 10004;
         UPDATE purchase_order_lines SET mapping_source = 'manual' WHERE sub_item_id_1688 = 100052;",
    )
    .await;

    let items = store.unmapped_items(10).await.unwrap();

    assert_eq!(
        items,
        [
            UnmappedItem {
                offer_id: SHIRT_OFFER,
                spec_id: SHIRT_SPEC.into(),
                title: "女装T恤".into(),
                attributes: "颜色:深灰色; 尺码:3XL".into(),
                lines: 3,
                orders: 3,
                oldest_order_at: Some(at(1_776_300_000)),
            },
            UnmappedItem {
                offer_id: CUP_OFFER,
                spec_id: String::new(),
                title: "Cup".into(),
                attributes: "颜色:深灰色; 尺码:3XL".into(),
                lines: 3,
                orders: 2,
                oldest_order_at: Some(at(1_776_400_000)),
            },
        ]
    );
    assert_eq!(store.unmapped_items(1).await.unwrap(), items[..1]);
    // Other tools read the same numbers from the view.
    let raw = db
        .scalar::<String>(&format!(
            "SELECT CAST(lines AS TEXT) || ' ' || CAST(orders AS TEXT) || ' ' || title
             FROM unmapped_1688_items WHERE offer_id = {CUP_OFFER} AND spec_id = ''"
        ))
        .await;
    assert_eq!(raw, "3 2 Cup");

    // Mapping the cup empties its row; the shirt still waits.
    store
        .import_merchant_skus(&numbered([merchant_sku("CUP-1", None)]))
        .await
        .unwrap();
    store
        .set_mappings(&numbered([mapping(CUP_OFFER, "", "CUP-1")]), false)
        .await
        .unwrap();
    let left: Vec<_> = store
        .unmapped_items(10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.offer_id)
        .collect();
    assert_eq!(left, [SHIRT_OFFER]);
}

async fn deleting_a_mapping_keeps_the_lines_it_mapped(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    store
        .import_merchant_skus(&numbered([merchant_sku("SHIRT-GREY-3XL", None)]))
        .await
        .unwrap();
    store
        .set_mappings(&numbered([shirt_mapping()]), false)
        .await
        .unwrap();
    let mappings = store.load_mappings().await.unwrap();
    store
        .write_page(&target, &[prepare(order(1), &mappings)])
        .await
        .unwrap();

    assert!(
        !store
            .delete_mapping(SHIRT_OFFER, "another-spec")
            .await
            .unwrap()
    );
    assert!(store.delete_mapping(SHIRT_OFFER, SHIRT_SPEC).await.unwrap());
    assert!(!store.delete_mapping(SHIRT_OFFER, SHIRT_SPEC).await.unwrap());

    assert!(store.load_mappings().await.unwrap().is_empty());
    let shirt = stored(&*store, 1).await.lines.remove(0);
    assert_eq!(
        (shirt.merchant_sku.as_deref(), shirt.mapping_status.as_str()),
        (Some("SHIRT-GREY-3XL"), "mapped")
    );
    let waiting: Vec<_> = store
        .unmapped_items(10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.offer_id)
        .collect();
    assert_eq!(waiting, [CUP_OFFER]);
    // The merchant SKU is no longer referenced by any mapping.
    assert_eq!(
        db.execute("DELETE FROM merchant_skus WHERE sku = 'SHIRT-GREY-3XL'")
            .await,
        1
    );

    // Until 1688 changes the order: sync then maps its lines from the current mappings.
    let mut shipped = order(1);
    shipped.status = "waitbuyerreceive".into();
    let mappings = store.load_mappings().await.unwrap();
    store
        .write_page(&target, &[prepare(shipped, &mappings)])
        .await
        .unwrap();
    let shirt = stored(&*store, 1).await.lines.remove(0);
    assert_eq!(
        (shirt.merchant_sku.as_deref(), shirt.mapping_status.as_str()),
        (None, "unmapped")
    );
}

async fn list_suppliers_counts_products_and_purchase_orders(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut from_shop_b = order(3);
    from_shop_b.supplier = Some(SupplierRef {
        login_id: "shop-b".into(),
        member_id: None,
        name: Some("Shop B".into()),
    });
    let mut from_nobody = order(4);
    from_nobody.supplier = None;
    store
        .write_page(
            &target,
            &[
                prepare(order(1), &[]),
                prepare(order(2), &[]),
                prepare(from_shop_b, &[]),
                prepare(from_nobody, &[]),
            ],
        )
        .await
        .unwrap();
    store.upsert_product(&the_shirt()).await.unwrap();
    store
        .upsert_product(&product(CUP_OFFER, "shop-a", vec![product_sku("", "2.4")]))
        .await
        .unwrap();
    store
        .upsert_product(&product(700, "义乌小店", vec![product_sku("", "9")]))
        .await
        .unwrap();
    store
        .upsert_product(&product(701, "Shop-Z", vec![product_sku("", "9")]))
        .await
        .unwrap();

    let listed: Vec<_> = store
        .list_suppliers()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.login_id_1688, s.products, s.purchase_orders))
        .collect();

    // Byte order on both backends: capitals before lower case, Chinese last.
    assert_eq!(
        listed,
        [
            ("Shop-Z".to_owned(), 1, 0),
            ("shop-a".to_owned(), 2, 2),
            ("shop-b".to_owned(), 0, 1),
            ("义乌小店".to_owned(), 1, 0),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Receiving, stock and warehouses

const SHIRT_SKU: &str = "SHIRT-GREY-3XL";
const SHIRT_GTIN: &str = "6901234567892";
const CUP_SKU: &str = "CUP-1";
const CUP_GTIN: &str = "6900000000017";
const MUG_OFFER: i64 = 600_000_000_002;

fn cup_mapping() -> SkuMapping {
    mapping(CUP_OFFER, "", CUP_SKU)
}

fn mug_mapping() -> SkuMapping {
    mapping(MUG_OFFER, "", "MUG-1")
}

fn po(order_id: i64) -> String {
    format!("1688-{order_id}")
}

fn tracking(order_id: i64) -> String {
    format!("SF{order_id}")
}

/// Merchant SKUs for the shirt and the cup, with GTINs, and the mug's.
async fn receiving_skus(store: &dyn Store) {
    store
        .import_merchant_skus(&numbered([
            merchant_sku(SHIRT_SKU, Some(SHIRT_GTIN)),
            merchant_sku(CUP_SKU, Some(CUP_GTIN)),
            merchant_sku("MUG-1", None),
        ]))
        .await
        .unwrap();
}

/// Orders synced into `warehouse` with every line mapped (30 shirts: 3 packs of 10, and
/// one cup), then set to `status`, each carrying the tracking number `SF<order id>`.
async fn orders_in(
    db: &TestDb,
    store: &dyn Store,
    warehouse: &str,
    status: &str,
    orders: Vec<Order1688>,
    mappings: &[SkuMapping],
) {
    let mut target = target(store).await;
    target.warehouse_id = store.ensure_warehouse(warehouse).await.unwrap();
    let ids: Vec<String> = orders.iter().map(|o| o.order_id.to_string()).collect();
    let numbers: Vec<i64> = orders.iter().map(|o| o.order_id).collect();
    let page: Vec<_> = orders.into_iter().map(|o| prepare(o, mappings)).collect();
    store.write_page(&target, &page).await.unwrap();
    db.execute(&format!(
        "UPDATE purchase_orders SET status = '{status}' WHERE order_id_1688 IN ({})",
        ids.join(", ")
    ))
    .await;
    for id in numbers {
        store
            .add_tracking_number(
                &po(id),
                &tracking(id),
                Some("SF Express"),
                TrackingSource::From1688,
            )
            .await
            .unwrap();
    }
}

async fn on_the_way(db: &TestDb, store: &dyn Store, order_ids: &[i64]) {
    receiving_skus(store).await;
    let orders = order_ids.iter().map(|id| order(*id)).collect();
    orders_in(
        db,
        store,
        "MAIN",
        "on_the_way",
        orders,
        &[shirt_mapping(), cup_mapping()],
    )
    .await;
}

fn scans(scans: &[(&str, &str)]) -> Vec<Scan> {
    scans
        .iter()
        .map(|(code, q)| Scan {
            code: (*code).into(),
            quantity: dec(q),
        })
        .collect()
}

fn by_tracking(order_id: i64, scanned: &[(&str, &str)]) -> ReceiptRequest {
    ReceiptRequest {
        warehouse_code: "MAIN".into(),
        tracking_no: Some(tracking(order_id)),
        po_numbers: Vec::new(),
        scans: scans(scanned),
        note: None,
    }
}

async fn refused(store: &dyn Store, request: &ReceiptRequest, tolerance: &str) -> ReceivingError {
    match store.receive(request, dec(tolerance)).await {
        Err(StoreError::Rejected(e)) => {
            // The preview refuses it the same way.
            match store.preview_receipt(request, dec(tolerance)).await {
                Err(StoreError::Rejected(p)) => assert_eq!(p, e),
                other => panic!("the preview did not refuse it: {other:?}"),
            }
            e
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// Everything receiving writes: receipts, their lines, the journal, the stock, and each
/// order's status and lines' received quantities (with the rows' updated_at).
async fn receiving_state(db: &TestDb) -> String {
    let counts = db
        .scalar::<String>(
            "SELECT CAST((SELECT count(*) FROM receipts) AS TEXT) || ' ' ||
                    CAST((SELECT count(*) FROM receipt_lines) AS TEXT) || ' ' ||
                    CAST((SELECT count(*) FROM inventory_movements) AS TEXT) || ' ' ||
                    CAST((SELECT count(*) FROM inventory) AS TEXT)",
        )
        .await;
    let orders = match db.backend() {
        Backend::Postgres => {
            db.scalar::<String>(
                "SELECT coalesce(string_agg(o.id || ':' || o.status || ':' || o.updated_at || ':' || l.received_qty || ':' || l.updated_at, ',' ORDER BY l.id), '')
                 FROM purchase_orders o JOIN purchase_order_lines l ON l.purchase_order_id = o.id",
            )
            .await
        }
        Backend::Sqlite => {
            db.scalar::<String>(
                "SELECT coalesce(group_concat(x, ','), '') FROM (
                     SELECT o.id || ':' || o.status || ':' || o.updated_at || ':' || l.received_qty || ':' || l.updated_at AS x
                     FROM purchase_orders o JOIN purchase_order_lines l ON l.purchase_order_id = o.id
                     ORDER BY l.id)",
            )
            .await
        }
    };
    format!("{counts} | {orders}")
}

fn stock(rows: &[InventoryRow]) -> Vec<(&str, Decimal)> {
    rows.iter()
        .map(|r| (r.merchant_sku.as_str(), r.on_hand))
        .collect()
}

fn received(order: &StoredOrder) -> Vec<(Option<&str>, Decimal, Decimal)> {
    order
        .lines
        .iter()
        .map(|l| (l.merchant_sku.as_deref(), l.received_qty, l.outstanding()))
        .collect()
}

async fn a_full_receipt_by_sku_and_gtin_stocks_every_line_and_receives_the_order(db: TestDb) {
    let store = db.store().await;
    on_the_way(&db, &*store, &[7001]).await;
    let mut request = by_tracking(
        7001,
        &[(SHIRT_SKU, "10"), (SHIRT_GTIN, "20"), (CUP_GTIN, "1")],
    );
    request.note = Some("first parcel".into());

    let outcome = store.receive(&request, Decimal::ZERO).await.unwrap();

    let lines: Vec<_> = outcome
        .lines
        .iter()
        .map(|l| {
            (
                l.po_number.as_str(),
                l.merchant_sku.as_str(),
                l.quantity,
                l.received_qty,
                l.outstanding,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("1688-7001", SHIRT_SKU, dec("30"), dec("30"), dec("0")),
            ("1688-7001", CUP_SKU, dec("1"), dec("1"), dec("0")),
        ]
    );
    assert_eq!(outcome.orders.len(), 1);
    assert_eq!(
        (outcome.orders[0].status_before, outcome.orders[0].status),
        (PoStatus::OnTheWay, PoStatus::Received)
    );
    assert!(outcome.orders[0].outstanding.is_empty());
    let po = stored(&*store, 7001).await;
    assert_eq!(po.status, "received");
    assert_eq!(
        received(&po),
        [
            (Some(SHIRT_SKU), dec("30"), dec("0")),
            (Some(CUP_SKU), dec("1"), dec("0"))
        ]
    );
    assert_eq!(
        stock(&store.inventory("MAIN").await.unwrap()),
        [(CUP_SKU, dec("1")), (SHIRT_SKU, dec("30"))]
    );

    let receipt = store.receipt(outcome.receipt_id).await.unwrap().unwrap();
    assert_eq!(receipt.warehouse_code, "MAIN");
    assert_eq!(receipt.tracking_no.as_deref(), Some("SF7001"));
    assert_eq!(receipt.note.as_deref(), Some("first parcel"));
    let labels: Vec<_> = receipt
        .lines
        .iter()
        .map(|l| {
            (
                l.po_number.as_deref(),
                l.merchant_sku.as_str(),
                l.name.as_deref(),
                l.gtin.as_deref(),
                l.quantity,
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            (
                Some("1688-7001"),
                SHIRT_SKU,
                Some("SHIRT-GREY-3XL name"),
                Some(SHIRT_GTIN),
                dec("30")
            ),
            (
                Some("1688-7001"),
                CUP_SKU,
                Some("CUP-1 name"),
                Some(CUP_GTIN),
                dec("1")
            ),
        ]
    );
    assert_eq!(receipt.lines[0].title.as_deref(), Some("女装T恤"));
    assert!(
        store
            .receipt(outcome.receipt_id + 1)
            .await
            .unwrap()
            .is_none()
    );

    // The journal: one movement per receipt line, with the receipt as its reason.
    let journal = db
        .scalar::<String>(&format!(
            "SELECT CAST(count(*) AS TEXT) || ' ' || min(reason) || ' ' || max(reason) || ' ' ||
                    CAST(min(receipt_id) AS TEXT) || ' ' || CAST(max(receipt_id) AS TEXT) || ' ' ||
                    CAST(count(DISTINCT receipt_line_id) AS TEXT)
             FROM inventory_movements WHERE merchant_sku IN ('{SHIRT_SKU}', '{CUP_SKU}')"
        ))
        .await;
    let id = outcome.receipt_id;
    assert_eq!(journal, format!("2 receipt receipt {id} {id} 2"));
    let shirt_moved = db
        .scalar::<String>(&format!(
            "SELECT CAST(quantity AS TEXT) FROM inventory_movements WHERE merchant_sku = '{SHIRT_SKU}'"
        ))
        .await;
    assert_eq!(shirt_moved, "30");
}

async fn a_partial_receipt_continues_later_until_the_order_is_received(db: TestDb) {
    let store = db.store().await;
    on_the_way(&db, &*store, &[7011]).await;
    let first = by_tracking(7011, &[(SHIRT_SKU, "10")]);

    // A preview says what would happen and writes nothing.
    let before = receiving_state(&db).await;
    let preview = store.preview_receipt(&first, Decimal::ZERO).await.unwrap();
    assert_eq!(preview.orders[0].status, PoStatus::PartiallyReceived);
    assert_eq!(receiving_state(&db).await, before);

    let outcome = store.receive(&first, Decimal::ZERO).await.unwrap();

    assert_eq!(outcome.lines, preview.lines);
    assert_eq!(outcome.orders, preview.orders);
    let order = &outcome.orders[0];
    assert_eq!(order.status, PoStatus::PartiallyReceived);
    let waiting: Vec<_> = order
        .outstanding
        .iter()
        .map(|l| (l.merchant_sku.as_deref(), l.outstanding))
        .collect();
    assert_eq!(
        waiting,
        [(Some(SHIRT_SKU), dec("20")), (Some(CUP_SKU), dec("1"))]
    );
    assert_eq!(stored(&*store, 7011).await.status, "partially_received");
    // The partially received order is still found by its tracking number.
    let found = store.orders_for_tracking("SF7011").await.unwrap();
    assert_eq!(found[0].status, "partially_received");
    assert_eq!(
        received(&found[0]),
        [
            (Some(SHIRT_SKU), dec("10"), dec("20")),
            (Some(CUP_SKU), dec("0"), dec("1"))
        ]
    );

    let second = store
        .receive(
            &by_tracking(7011, &[(SHIRT_GTIN, "20"), (CUP_SKU, "1")]),
            Decimal::ZERO,
        )
        .await
        .unwrap();

    assert_ne!(second.receipt_id, outcome.receipt_id);
    assert_eq!(
        (second.orders[0].status_before, second.orders[0].status),
        (PoStatus::PartiallyReceived, PoStatus::Received)
    );
    assert_eq!(stored(&*store, 7011).await.status, "received");
    assert_eq!(
        stock(&store.inventory("MAIN").await.unwrap()),
        [(CUP_SKU, dec("1")), (SHIRT_SKU, dec("30"))]
    );
    let movements = db
        .scalar::<i64>("SELECT count(*) FROM inventory_movements WHERE reason = 'receipt'")
        .await;
    assert_eq!(movements, 3);
}

async fn every_receiving_rule_names_its_input_and_writes_nothing(db: TestDb) {
    let store = db.store().await;
    receiving_skus(&*store).await;
    let maps = [shirt_mapping(), cup_mapping(), mug_mapping()];
    orders_in(&db, &*store, "MAIN", "on_the_way", vec![order(7101)], &maps).await;
    orders_in(&db, &*store, "MAIN", "draft", vec![order(7102)], &maps).await;
    orders_in(&db, &*store, "MAIN", "cancelled", vec![order(7103)], &maps).await;
    orders_in(&db, &*store, "MAIN", "received", vec![order(7104)], &maps).await;
    orders_in(
        &db,
        &*store,
        "SECOND",
        "on_the_way",
        vec![order(7105)],
        &maps,
    )
    .await;
    // The cup of 7106 is unmapped.
    orders_in(
        &db,
        &*store,
        "MAIN",
        "on_the_way",
        vec![order(7106)],
        &[shirt_mapping()],
    )
    .await;
    // 7109 carries a mug, which no other order has.
    let mut with_mug = order(7109);
    with_mug.lines[1].offer_id = MUG_OFFER;
    orders_in(&db, &*store, "MAIN", "on_the_way", vec![with_mug], &maps).await;
    let before = receiving_state(&db).await;

    let mut unknown_warehouse = by_tracking(7101, &[(SHIRT_SKU, "1")]);
    unknown_warehouse.warehouse_code = "NOWHERE".into();
    let mut unknown_order = by_tracking(7101, &[(SHIRT_SKU, "1")]);
    unknown_order.tracking_no = None;
    unknown_order.po_numbers = vec!["PO-NOPE".into()];
    let mut not_on_tracking = by_tracking(7101, &[(SHIRT_SKU, "1")]);
    not_on_tracking.po_numbers = vec![po(7102)];
    let into_second = ReceiptRequest {
        warehouse_code: "SECOND".into(),
        ..by_tracking(7101, &[(SHIRT_SKU, "1")])
    };
    let cases: Vec<(ReceiptRequest, &str, Vec<&str>)> = vec![
        (unknown_warehouse, "unknown_warehouse", vec!["\"NOWHERE\""]),
        (
            by_tracking(7199, &[(SHIRT_SKU, "1")]),
            "unknown_tracking_number",
            vec!["\"SF7199\""],
        ),
        (unknown_order, "unknown_purchase_order", vec!["\"PO-NOPE\""]),
        (
            not_on_tracking,
            "not_on_tracking_number",
            vec!["1688-7102", "\"SF7101\""],
        ),
        (
            by_tracking(7101, &[(SHIRT_SKU, "1"), ("NOPE-1", "1")]),
            "unknown_code",
            vec![
                "\"NOPE-1\"",
                "neither a merchant SKU nor a GTIN",
                "1688-7101",
            ],
        ),
        (
            by_tracking(7101, &[("MUG-1", "1")]),
            "code_of_another_order",
            vec!["\"MUG-1\"", "1688-7101", "1688-7109"],
        ),
        (
            by_tracking(7106, &[(SHIRT_SKU, "3"), (CUP_SKU, "1")]),
            "unknown_code",
            vec!["\"CUP-1\"", "1688-7106 line 2 \"Cup\"", "mapped"],
        ),
        (
            by_tracking(7101, &[(CUP_SKU, "1"), (SHIRT_GTIN, "31")]),
            "over_receipt",
            vec![
                "31",
                "\"6901234567892\"",
                "\"SHIRT-GREY-3XL\"",
                "the 30 outstanding",
                "1688-7101",
            ],
        ),
        (
            by_tracking(7105, &[(SHIRT_SKU, "1")]),
            "wrong_warehouse",
            vec!["\"MAIN\"", "1688-7105", "\"SECOND\""],
        ),
        (
            into_second,
            "wrong_warehouse",
            vec!["\"SECOND\"", "1688-7101", "\"MAIN\""],
        ),
        (
            by_tracking(7102, &[(SHIRT_SKU, "1")]),
            "order_not_receivable",
            vec!["1688-7102", "draft", "submit it first"],
        ),
        (
            by_tracking(7103, &[(SHIRT_SKU, "1")]),
            "order_not_receivable",
            vec!["1688-7103", "cancelled"],
        ),
        (
            by_tracking(7104, &[(SHIRT_SKU, "1")]),
            "order_not_receivable",
            vec!["1688-7104", "already fully received"],
        ),
        (
            by_tracking(7101, &[(SHIRT_SKU, "0")]),
            "bad_quantity",
            vec!["\"SHIRT-GREY-3XL\"", "0"],
        ),
        (by_tracking(7101, &[]), "nothing_scanned", vec!["scan"]),
    ];
    for (request, kind, named) in cases {
        let err = refused(&*store, &request, "0").await;
        let text = err.to_string();
        assert_eq!(err.kind(), kind, "{text}");
        for n in named {
            assert!(text.contains(n), "{kind}: {text:?} does not name {n:?}");
        }
        assert_eq!(receiving_state(&db).await, before, "{kind} wrote something");
    }

    // An order carried by the same parcel as a draft is received; the draft is not.
    store
        .add_tracking_number(&po(7102), "SF7101", None, TrackingSource::Manual)
        .await
        .unwrap();
    let outcome = store
        .receive(&by_tracking(7101, &[(SHIRT_SKU, "1")]), Decimal::ZERO)
        .await
        .unwrap();
    assert_eq!(outcome.lines[0].po_number, "1688-7101");
    assert_eq!(stored(&*store, 7102).await.status, "draft");
}

async fn over_receipt_is_refused_unless_within_the_tolerance(db: TestDb) {
    let store = db.store().await;
    on_the_way(&db, &*store, &[7201, 7202]).await;

    let err = refused(&*store, &by_tracking(7201, &[(SHIRT_SKU, "31")]), "0").await;
    assert_eq!(
        err.to_string(),
        "receiving 31 of \"SHIRT-GREY-3XL\" is more than the 30 outstanding on purchase order 1688-7201"
    );

    // 10% of 30 is 3 more.
    let outcome = store
        .receive(&by_tracking(7201, &[(SHIRT_SKU, "33")]), dec("10"))
        .await
        .unwrap();
    assert_eq!(
        (outcome.lines[0].received_qty, outcome.lines[0].outstanding),
        (dec("33"), dec("0"))
    );
    assert_eq!(
        outcome.orders[0].status,
        PoStatus::PartiallyReceived,
        "the cup waits"
    );
    assert_eq!(
        received(&stored(&*store, 7201).await)[0],
        (Some(SHIRT_SKU), dec("33"), dec("0"))
    );
    assert_eq!(
        stock(&store.inventory("MAIN").await.unwrap()),
        [(SHIRT_SKU, dec("33"))]
    );

    let err = refused(&*store, &by_tracking(7202, &[(SHIRT_GTIN, "34")]), "10").await;
    assert_eq!(
        err.to_string(),
        "receiving 34 of \"6901234567892\" (merchant SKU \"SHIRT-GREY-3XL\") is more than the 30 \
         outstanding on purchase order 1688-7202 (at most 33 with the 10% over-receipt tolerance)"
    );
    // Nothing more once the tolerance is used up.
    let err = refused(&*store, &by_tracking(7201, &[(SHIRT_SKU, "1")]), "10").await;
    assert_eq!(err.kind(), "over_receipt");
}

async fn two_receipts_racing_for_the_last_units_cannot_both_take_them(db: TestDb) {
    let store = db.store().await;
    on_the_way(&db, &*store, &[7301, 7302]).await;
    store
        .receive(&by_tracking(7301, &[(SHIRT_SKU, "25")]), Decimal::ZERO)
        .await
        .unwrap();
    // Two clients, each with its own pool, as two scanners would be.
    let clients = [db.store().await, db.store().await];

    let race = |request: ReceiptRequest| {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = clients
            .iter()
            .map(|client| {
                let (client, request, barrier) = (client.clone(), request.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    client.receive(&request, Decimal::ZERO).await
                })
            })
            .collect();
        async move {
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.unwrap());
            }
            results
        }
    };

    // The last 5 shirts, while the cup still waits: the loser is told it is too much.
    let results = race(by_tracking(7301, &[(SHIRT_SKU, "5")])).await;
    let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!((won.len(), lost.len()), (1, 1), "{lost:?}");
    match &lost[0] {
        Err(StoreError::Rejected(e)) => {
            assert_eq!(e.kind(), "over_receipt", "{e}");
            assert!(e.to_string().contains("already fully received"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        received(&stored(&*store, 7301).await)[0],
        (Some(SHIRT_SKU), dec("30"), dec("0"))
    );

    // The whole order twice: the loser finds it received.
    let results = race(by_tracking(7302, &[(SHIRT_SKU, "30"), (CUP_SKU, "1")])).await;
    let (won, lost): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!((won.len(), lost.len()), (1, 1), "{lost:?}");
    match &lost[0] {
        Err(StoreError::Rejected(e)) => assert_eq!(e.kind(), "order_not_receivable", "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stored(&*store, 7302).await.status, "received");

    assert_eq!(
        stock(&store.inventory("MAIN").await.unwrap()),
        [(CUP_SKU, dec("1")), (SHIRT_SKU, dec("60"))]
    );
    let (receipts, movements) = (
        db.scalar::<i64>("SELECT count(*) FROM receipts").await,
        db.scalar::<i64>("SELECT count(*) FROM inventory_movements")
            .await,
    );
    assert_eq!((receipts, movements), (3, 4));
}

async fn stock_and_journal_are_kept_per_warehouse(db: TestDb) {
    let store = db.store().await;
    receiving_skus(&*store).await;
    let maps = [shirt_mapping(), cup_mapping()];
    orders_in(&db, &*store, "MAIN", "on_the_way", vec![order(7401)], &maps).await;
    orders_in(
        &db,
        &*store,
        "SECOND",
        "on_the_way",
        vec![order(7402), order(7403)],
        &maps,
    )
    .await;

    store
        .receive(&by_tracking(7401, &[(SHIRT_SKU, "4")]), Decimal::ZERO)
        .await
        .unwrap();
    for (order_id, q) in [(7402, "5"), (7403, "6")] {
        let request = ReceiptRequest {
            warehouse_code: "SECOND".into(),
            ..by_tracking(order_id, &[(SHIRT_GTIN, q), (CUP_SKU, "1")])
        };
        store.receive(&request, Decimal::ZERO).await.unwrap();
    }

    assert_eq!(
        stock(&store.inventory("MAIN").await.unwrap()),
        [(SHIRT_SKU, dec("4"))]
    );
    let second = store.inventory("SECOND").await.unwrap();
    assert_eq!(
        stock(&second),
        [(CUP_SKU, dec("2")), (SHIRT_SKU, dec("11"))]
    );
    assert_eq!(second[1].gtin.as_deref(), Some(SHIRT_GTIN));
    assert_eq!(second[1].name.as_deref(), Some("SHIRT-GREY-3XL name"));
    match store.inventory("NOPE").await {
        Err(StoreError::Warehouse(WarehouseError::Unknown { code })) => assert_eq!(code, "NOPE"),
        other => panic!("{other:?}"),
    }

    // The journal adds up to the stock, per warehouse and SKU.
    let journal = match db.backend() {
        Backend::Postgres => {
            db.scalar::<String>(
                "SELECT string_agg(w.code || ' ' || m.merchant_sku || ' ' || m.total || ' ' || m.n, ', ' ORDER BY w.code, m.merchant_sku)
                 FROM (SELECT warehouse_id, merchant_sku, sum(quantity) AS total, count(*) AS n
                       FROM inventory_movements WHERE reason = 'receipt' AND receipt_id IS NOT NULL
                       GROUP BY warehouse_id, merchant_sku) m
                 JOIN warehouses w ON w.id = m.warehouse_id",
            )
            .await
        }
        Backend::Sqlite => {
            db.scalar::<String>(
                "SELECT group_concat(x, ', ') FROM (
                     SELECT w.code || ' ' || m.merchant_sku || ' ' || CAST(sum(CAST(m.quantity AS INTEGER)) AS TEXT) || ' ' || CAST(count(*) AS TEXT) AS x
                     FROM inventory_movements m JOIN warehouses w ON w.id = m.warehouse_id
                     WHERE m.reason = 'receipt' AND m.receipt_id IS NOT NULL
                     GROUP BY w.code, m.merchant_sku
                     ORDER BY w.code, m.merchant_sku)",
            )
            .await
        }
    };
    assert_eq!(
        journal,
        "MAIN SHIRT-GREY-3XL 4 1, SECOND CUP-1 2 2, SECOND SHIRT-GREY-3XL 11 2"
    );

    let warehouses: Vec<_> = store
        .list_warehouses()
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.code, w.purchase_orders, w.on_hand, w.skus_in_stock))
        .collect();
    assert_eq!(
        warehouses,
        [
            ("MAIN".to_owned(), 1, dec("4"), 1),
            ("SECOND".to_owned(), 2, dec("13"), 2)
        ]
    );
}

async fn tracking_numbers_are_kept_once_per_order_and_find_every_order_carrying_them(db: TestDb) {
    let store = db.store().await;
    receiving_skus(&*store).await;
    let maps = [shirt_mapping(), cup_mapping()];
    orders_in(&db, &*store, "MAIN", "on_the_way", vec![order(7501)], &maps).await;
    orders_in(&db, &*store, "MAIN", "draft", vec![order(7502)], &maps).await;

    // Typed in again by hand: nothing new, but a carrier given now is kept.
    let again = store
        .add_tracking_number(
            " 1688-7501 ",
            " SF7501 ",
            Some("顺丰"),
            TrackingSource::Manual,
        )
        .await
        .unwrap();
    assert!(!again);
    let (carrier, source) = (
        db.scalar::<String>("SELECT carrier FROM tracking_numbers WHERE tracking_no = 'SF7501'")
            .await,
        db.scalar::<String>("SELECT source FROM tracking_numbers WHERE tracking_no = 'SF7501'")
            .await,
    );
    assert_eq!((carrier.as_str(), source.as_str()), ("顺丰", "1688"));
    // One parcel for both orders.
    assert!(
        store
            .add_tracking_number(&po(7502), "SF7501", None, TrackingSource::Manual)
            .await
            .unwrap()
    );
    match store
        .add_tracking_number("PO-NOPE", "SF1", None, TrackingSource::Manual)
        .await
    {
        Err(StoreError::Rejected(e)) => {
            assert_eq!(
                e,
                ReceivingError::UnknownOrder {
                    po_number: "PO-NOPE".into()
                }
            )
        }
        other => panic!("{other:?}"),
    }
    match store
        .add_tracking_number(&po(7501), "  ", None, TrackingSource::Manual)
        .await
    {
        Err(StoreError::Rejected(e)) => assert_eq!(e, ReceivingError::EmptyTrackingNumber),
        other => panic!("{other:?}"),
    }

    let carrying: Vec<_> = store
        .orders_for_tracking(" SF7501 ")
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.po_number, o.status, o.lines.len()))
        .collect();
    assert_eq!(
        carrying,
        [
            ("1688-7501".to_owned(), "on_the_way".to_owned(), 2),
            ("1688-7502".to_owned(), "draft".to_owned(), 2)
        ]
    );
    assert!(
        store
            .orders_for_tracking("SF-NONE")
            .await
            .unwrap()
            .is_empty()
    );
    let found = store
        .find_order_by_po_number("1688-7502")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.order_id_1688, Some(7502));
    assert!(
        store
            .find_order_by_po_number("PO-NOPE")
            .await
            .unwrap()
            .is_none()
    );

    // The parcel's open order takes the scan; naming it narrows the parcel to it, and an
    // order is also received by its number alone.
    let outcome = store
        .receive(&by_tracking(7501, &[(SHIRT_SKU, "1")]), Decimal::ZERO)
        .await
        .unwrap();
    assert_eq!(outcome.lines[0].po_number, "1688-7501");
    let mut named = by_tracking(7501, &[(SHIRT_SKU, "1")]);
    named.po_numbers = vec![po(7501)];
    store.receive(&named, Decimal::ZERO).await.unwrap();
    named.tracking_no = None;
    let outcome = store.receive(&named, Decimal::ZERO).await.unwrap();
    assert_eq!(outcome.lines[0].received_qty, dec("3"));
    let tracking_no: Option<String> = db
        .scalar(&format!(
            "SELECT tracking_no FROM receipts WHERE id = {}",
            outcome.receipt_id
        ))
        .await;
    assert_eq!(tracking_no, None);
}

async fn a_warehouse_with_stock_is_deleted_only_when_forced_and_its_1688_orders_stay_deleted(
    db: TestDb,
) {
    let store = db.store().await;
    receiving_skus(&*store).await;
    assert!(matches!(
        store.add_warehouse("EAST", "East hall").await.unwrap(),
        WarehouseChange::Created(_)
    ));
    let east = store.add_warehouse(" EAST ", "East hall").await.unwrap();
    assert!(matches!(east, WarehouseChange::Unchanged(_)));
    assert_eq!(
        store.add_warehouse("EAST", "East hall 2").await.unwrap(),
        WarehouseChange::Renamed(east.id())
    );
    assert_eq!(store.ensure_warehouse("EAST").await.unwrap(), east.id());
    match store.add_warehouse("EAST 2", "").await {
        Err(StoreError::Warehouse(e @ WarehouseError::InvalidCode { .. })) => {
            assert!(e.to_string().contains("\"EAST 2\""), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let maps = [shirt_mapping(), cup_mapping()];
    orders_in(
        &db,
        &*store,
        "EAST",
        "on_the_way",
        vec![order(7601), order(7602)],
        &maps,
    )
    .await;
    orders_in(&db, &*store, "MAIN", "on_the_way", vec![order(7603)], &maps).await;
    let east_receipt = ReceiptRequest {
        warehouse_code: "EAST".into(),
        ..by_tracking(7601, &[(SHIRT_SKU, "2")])
    };
    store.receive(&east_receipt, Decimal::ZERO).await.unwrap();

    let before = receiving_state(&db).await;
    match store.delete_warehouse("EAST", false).await {
        Err(StoreError::Warehouse(e @ WarehouseError::NotEmpty { .. })) => {
            let text = e.to_string();
            for n in [
                "\"EAST\"",
                "2 units of 1 merchant SKU",
                "1 of its purchase orders",
                "--force",
            ] {
                assert!(text.contains(n), "{text:?} does not say {n:?}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(receiving_state(&db).await, before, "a refused delete wrote");
    match store.delete_warehouse("NOWHERE", true).await {
        Err(StoreError::Warehouse(WarehouseError::Unknown { code })) => assert_eq!(code, "NOWHERE"),
        other => panic!("{other:?}"),
    }

    let deleted = store.delete_warehouse("EAST", true).await.unwrap();

    assert_eq!(
        deleted,
        WarehouseDeletion {
            purchase_orders: 2,
            tombstones: 2,
            receipts: 1,
            inventory_rows: 1,
            on_hand: dec("2"),
        }
    );
    for order_id in [7601, 7602] {
        assert!(
            store
                .find_synced_order(ACCOUNT, order_id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .orders_for_tracking(&tracking(order_id))
                .await
                .unwrap()
                .is_empty()
        );
    }
    let (lines, tracking_rows, movements) = (
        db.scalar::<i64>("SELECT count(*) FROM purchase_order_lines")
            .await,
        db.scalar::<i64>("SELECT count(*) FROM tracking_numbers")
            .await,
        db.scalar::<i64>("SELECT count(*) FROM inventory_movements")
            .await,
    );
    assert_eq!(
        (lines, tracking_rows, movements),
        (2, 1, 0),
        "only 7603 is left"
    );
    let reasons = db
        .scalar::<String>(
            "SELECT min(reason) || ' / ' || max(reason) FROM sync_tombstones WHERE order_id_1688 IN (7601, 7602)",
        )
        .await;
    assert_eq!(reasons, "warehouse EAST deleted / warehouse EAST deleted");
    let codes: Vec<String> = store
        .list_warehouses()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.code)
        .collect();
    assert_eq!(codes, ["MAIN"]);

    // Sync does not bring them back, into whatever warehouse.
    let target = target(&*store).await;
    let page = [prepare(order(7601), &maps), prepare(order(7602), &maps)];
    let outcome = store.write_page(&target, &page).await.unwrap();
    assert_eq!((outcome.inserted, outcome.skipped), (0, 2));

    // Until one is imported on purpose.
    assert!(store.clear_tombstone(ACCOUNT, 7601).await.unwrap());
    assert!(!store.clear_tombstone(ACCOUNT, 7601).await.unwrap());
    let outcome = store.write_page(&target, &page).await.unwrap();
    assert_eq!((outcome.inserted, outcome.skipped), (1, 1));
    let back = stored(&*store, 7601).await;
    assert_eq!(
        (back.status.as_str(), back.warehouse_id),
        ("draft", Some(target.warehouse_id))
    );
    assert_eq!(received(&back)[0].1, Decimal::ZERO);

    // A warehouse with neither stock nor received goods goes without force.
    store.add_warehouse("WEST", "").await.unwrap();
    orders_in(&db, &*store, "WEST", "draft", vec![order(7604)], &maps).await;
    let deleted = store.delete_warehouse("WEST", false).await.unwrap();
    assert_eq!((deleted.purchase_orders, deleted.tombstones), (1, 1));
}

// ---------------------------------------------------------------------------------------
// Notifications (PostgreSQL only: SQLite has no LISTEN)

const CHANNEL: &str = "sync1688_purchase_orders";

async fn next_notification(listener: &mut PgListener) -> serde_json::Value {
    let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
        .await
        .expect("no notification within 10 s")
        .unwrap();
    assert_eq!(n.channel(), CHANNEL);
    assert!(n.payload().len() < 8000, "{} bytes", n.payload().len());
    serde_json::from_str(n.payload()).unwrap()
}

fn ids(value: &serde_json::Value) -> Vec<i64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.to_string().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn a_committed_page_notifies_listeners_of_the_orders_it_created_and_updated() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let mut listener = PgListener::connect(db.url()).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let mut target = target(&*store).await;
    let page = [prepare(order(12_001), &[]), prepare(order(12_002), &[])];

    let created = store.write_page(&target, &page).await.unwrap();

    assert_eq!(
        next_notification(&mut listener).await,
        json!({ "account": ACCOUNT, "created": created.created_ids, "updated": [] })
    );

    // A page of unchanged orders says nothing, nor does a page its fence rolled back:
    // the next notification is the next committed change.
    assert_eq!(store.write_page(&target, &page).await.unwrap().unchanged, 2);
    let old = store
        .try_claim_lease(ACCOUNT, "host-a:1", TTL)
        .await
        .unwrap()
        .unwrap();
    expire_lease(&db, ACCOUNT).await;
    store
        .try_claim_lease(ACCOUNT, "host-b:2", TTL)
        .await
        .unwrap()
        .unwrap();
    target.fence = Some(old.fence);
    let mut cancelled = order(12_001);
    cancelled.status = "cancel".into();
    let rolled_back = store.write_page(&target, &[prepare(cancelled, &[])]).await;
    assert!(matches!(rolled_back, Err(StoreError::LeaseLost { .. })));
    target.fence = None;
    let mut shipped = order(12_002);
    shipped.status = "waitbuyerreceive".into();
    let updated = store
        .write_page(&target, &[prepare(shipped, &[])])
        .await
        .unwrap();

    assert_eq!(
        next_notification(&mut listener).await,
        json!({ "account": ACCOUNT, "created": [], "updated": updated.updated_ids })
    );
    assert_eq!(updated.updated_ids, [stored(&*store, 12_002).await.id]);
}

#[tokio::test]
async fn a_large_page_is_announced_in_several_notifications_under_the_size_limit() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let mut listener = PgListener::connect(db.url()).await.unwrap();
    listener.listen(CHANNEL).await.unwrap();
    let target = target(&*store).await;
    // Ids of four digits: about 10 kB of them, more than one payload may carry.
    let page: Vec<IncomingOrder> = (0..2000)
        .map(|i| prepare(order(13_000_000 + i), &[]))
        .collect();

    let outcome = store.write_page(&target, &page).await.unwrap();

    let mut announced = Vec::new();
    let mut notifications = 0;
    while announced.len() < outcome.created_ids.len() {
        let n = next_notification(&mut listener).await;
        assert_eq!(n["account"], ACCOUNT);
        assert!(ids(&n["updated"]).is_empty());
        announced.extend(ids(&n["created"]));
        notifications += 1;
    }
    assert_eq!(announced, outcome.created_ids);
    assert!(notifications > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_order_another_writer_stores_meanwhile_is_updated_not_duplicated() {
    let db = TestDb::postgres().await;
    let store = db.store().await;
    let target = target(&*store).await;
    // A writer without the lease (`orders import-1688`) inserts order 14001 and commits
    // only once the page's own insert waits for it, after the page has looked the order
    // up and found it new.
    let mut other = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query("BEGIN").execute(&mut other).await.unwrap();
    sqlx::query(
        "INSERT INTO purchase_orders (po_number, source, account, order_id_1688, status_1688)
         VALUES ('1688-14001', '1688_sync', $1, 14001, 'waitbuyerpay')",
    )
    .bind(ACCOUNT)
    .execute(&mut other)
    .await
    .unwrap();
    let page = [prepare(order(14_001), &[]), prepare(order(14_002), &[])];
    let write = tokio::spawn({
        let store = store.clone();
        let target = target.clone();
        async move { store.write_page(&target, &page).await }
    });
    let waiting = "SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while db.scalar::<i64>(waiting).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the page never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();

    let outcome = write.await.unwrap().unwrap();

    assert_eq!((outcome.inserted, outcome.updated), (1, 1));
    let po = stored(&*store, 14_001).await;
    assert_eq!(po.lines.len(), 2);
    assert_eq!(po.goods_amount, Some(dec("39.90")));
    assert_eq!(stored(&*store, 14_002).await.lines.len(), 2);
    let totals = store.totals().await.unwrap();
    assert_eq!((totals.orders, totals.lines), (2, 4));
}

// ---------------------------------------------------------------------------------------
// Connecting

#[tokio::test]
async fn an_in_memory_sqlite_database_keeps_its_data_across_calls() {
    let store = store::connect("sqlite::memory:", 8).await.unwrap();
    store.migrate().await.unwrap();
    let target = target(&*store).await;
    store
        .write_page(&target, &[prepare(order(1), &[])])
        .await
        .unwrap();
    assert_eq!(store.totals().await.unwrap().orders, 1);
}

#[tokio::test]
async fn a_connection_error_never_shows_the_password() {
    // A role that does not exist fails at once (an unreachable server is retried until
    // the pool's acquire timeout).
    let url = "postgres://sync1688_no_such_role:s3cr3t-pw@127.0.0.1:5432/postgres";
    let err = match store::connect(url, 1).await {
        Ok(_) => panic!("connected as a role that does not exist"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Connect(_)), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
}

#[tokio::test]
async fn migrations_apply_twice_without_error() {
    for db in [TestDb::postgres().await, TestDb::sqlite()] {
        let store = db.store().await;
        store.migrate().await.unwrap();
        assert_eq!(store.totals().await.unwrap(), Default::default());
    }
}

// ---------------------------------------------------------------------------------------
// Purchasing: created purchase orders, placement, submit, and sync not duplicating them

fn new_po() -> store::NewPurchaseOrder {
    store::NewPurchaseOrder {
        account: ACCOUNT.into(),
        supplier_login_id: "shop-a".into(),
        warehouse_code: "MAIN".into(),
        note: Some("please pack well".into()),
        address_id_1688: "addr-1".into(),
        lines: vec![
            store::NewPoLine {
                merchant_sku: "SHIRT-GREY-3XL".into(),
                merchant_quantity: dec("30"),
                offer_id: SHIRT_OFFER,
                spec_id: SHIRT_SPEC.into(),
                sku_id_1688: Some(3_753_684_468_637),
                quantity: dec("3"),
                unit_price: dec("12.5"),
                title: "女装T恤".into(),
                attributes: "颜色:深灰色; 尺码:3XL".into(),
            },
            store::NewPoLine {
                merchant_sku: "CUP".into(),
                merchant_quantity: dec("3"),
                offer_id: CUP_OFFER,
                spec_id: String::new(),
                sku_id_1688: None,
                quantity: dec("1"),
                unit_price: dec("2.4"),
                title: "Cup".into(),
                attributes: String::new(),
            },
        ],
    }
}

/// A supplier and a warehouse, then a created draft.
async fn created_po(store: &dyn Store) -> StoredOrder {
    store.upsert_product(&the_shirt()).await.unwrap();
    store.ensure_warehouse("MAIN").await.unwrap();
    store.create_purchase_order(&new_po()).await.unwrap()
}

async fn purchase_order_count(db: &TestDb) -> i64 {
    db.scalar::<i64>("SELECT count(*) FROM purchase_orders")
        .await
}

fn placement(order_ids: &[i64]) -> store::Placement {
    store::Placement {
        order_ids: order_ids.to_vec(),
        total_amount: Some(dec("39.90")),
        shipping_fee: Some(dec("0")),
        pay_url: Some("https://pay.example/1".into()),
    }
}

async fn a_created_order_is_a_draft_with_its_number_lines_and_amounts(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    assert!(po.po_number.starts_with("PO-"), "{}", po.po_number);
    assert!(po.po_number.ends_with("-0001"), "{}", po.po_number);
    assert_eq!(po.po_number.len(), "PO-20260418-0001".len());
    assert_eq!(
        (
            po.source.as_str(),
            po.status.as_str(),
            po.account.as_deref()
        ),
        ("1688_created", "draft", Some(ACCOUNT))
    );
    assert_eq!(po.order_id_1688, None);
    assert_eq!(po.note.as_deref(), Some("please pack well"));
    assert_eq!(po.goods_amount, Some(dec("39.9")));
    assert!(!po.has_unmapped);
    assert_eq!(po.lines.len(), 2);
    let shirt = &po.lines[0];
    assert_eq!(shirt.line_no, 1);
    assert_eq!(shirt.sub_item_id_1688, None);
    assert_eq!(shirt.amount, dec("37.5"));
    assert_eq!(shirt.merchant_unit_cost, Some(dec("1.25")));
    assert_eq!(shirt.mapping_source.as_deref(), Some("mapping"));
    assert_eq!(po.lines[1].merchant_unit_cost, Some(dec("0.8")));

    let second = store.create_purchase_order(&new_po()).await.unwrap();
    assert!(second.po_number.ends_with("-0002"), "{}", second.po_number);
    let state = store.placing_state(&po.po_number).await.unwrap().unwrap();
    let other = store
        .placing_state(&second.po_number)
        .await
        .unwrap()
        .unwrap();
    assert!(
        state.out_order_id.starts_with(&format!("s1688-{}-", po.id)),
        "{}",
        state.out_order_id
    );
    assert_ne!(state.out_order_id, other.out_order_id);
    assert_eq!(state.address_id_1688.as_deref(), Some("addr-1"));
    assert!(state.order_ids_1688.is_empty());
    assert_eq!(store.placing_state("PO-nope").await.unwrap(), None);
}

async fn creating_with_an_unknown_supplier_or_warehouse_names_it(db: TestDb) {
    let store = db.store().await;
    store.upsert_product(&the_shirt()).await.unwrap();
    store.ensure_warehouse("MAIN").await.unwrap();
    let mut bad = new_po();
    bad.supplier_login_id = "shop-nobody".into();
    let err = store.create_purchase_order(&bad).await.unwrap_err();
    assert!(err.to_string().contains("shop-nobody"), "{err}");
    let mut bad = new_po();
    bad.warehouse_code = "NOWHERE".into();
    let err = store.create_purchase_order(&bad).await.unwrap_err();
    assert!(err.to_string().contains("NOWHERE"), "{err}");
    assert_eq!(purchase_order_count(&db).await, 0);
}

async fn submit_moves_drafts_and_refuses_the_rest_with_the_reason(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    let outcome = store
        .submit_orders(&[po.po_number.clone(), "PO-19990101-0001".into()])
        .await
        .unwrap();
    assert_eq!(outcome[0].result, Ok(()));
    assert_eq!(
        outcome[1].result,
        Err("no purchase order PO-19990101-0001".to_owned())
    );
    let again = store
        .submit_orders(std::slice::from_ref(&po.po_number))
        .await
        .unwrap();
    assert_eq!(
        again[0].result,
        Err(format!("{} is on_the_way, not a draft", po.po_number))
    );
    let stored = store.find_order_by_po_number(&po.po_number).await.unwrap();
    assert_eq!(stored.unwrap().status, "on_the_way");
}

async fn recording_a_placement_twice_changes_nothing(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    store
        .record_placement(&po.po_number, &placement(&[7001]))
        .await
        .unwrap();
    let first = store.find_order_by_po_number(&po.po_number).await.unwrap();
    store
        .record_placement(&po.po_number, &placement(&[7001]))
        .await
        .unwrap();
    let second = store.find_order_by_po_number(&po.po_number).await.unwrap();
    assert_eq!(first, second);
    let first = first.unwrap();
    assert_eq!(first.order_id_1688, Some(7001));
    assert_eq!(first.total_amount, Some(dec("39.90")));
    let state = store.placing_state(&po.po_number).await.unwrap().unwrap();
    assert_eq!(state.order_ids_1688, vec![7001]);
    assert!(
        store
            .record_placement("PO-nope", &placement(&[1]))
            .await
            .is_err()
    );
}

/// The created purchase order after sync saw its 1688 order: no second purchase order,
/// its lines carry 1688's sub-item ids.
async fn assert_synced_into_the_created_order(db: &TestDb, store: &dyn Store, po: &StoredOrder) {
    assert_eq!(purchase_order_count(db).await, 1);
    let after = store
        .find_order_by_po_number(&po.po_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.id, po.id);
    assert_eq!(after.status_1688.as_deref(), Some("waitbuyerpay"));
    assert_eq!(after.order_id_1688, Some(7001));
    assert_eq!(after.lines.len(), 2);
    let subs: Vec<Option<i64>> = after.lines.iter().map(|l| l.sub_item_id_1688).collect();
    assert_eq!(subs, vec![Some(70011), Some(70012)]);
    assert_eq!(
        after.lines[0].merchant_sku.as_deref(),
        Some("SHIRT-GREY-3XL")
    );
    let state = store.placing_state(&po.po_number).await.unwrap().unwrap();
    assert_eq!(state.order_ids_1688, vec![7001]);
}

async fn sync_updates_the_created_order_linked_by_its_1688_id(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    store
        .record_placement(&po.po_number, &placement(&[7001]))
        .await
        .unwrap();
    let target = target(&*store).await;
    let page = [prepare(order(7001), &[shirt_mapping()])];
    let outcome = store.write_page(&target, &page).await.unwrap();
    assert_eq!((outcome.inserted, outcome.updated), (0, 1));
    assert_synced_into_the_created_order(&db, &*store, &po).await;
    let again = store.write_page(&target, &page).await.unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 1));

    let mut closed = order(7001);
    closed.status = "cancel".into();
    store
        .write_page(&target, &[prepare(closed, &[shirt_mapping()])])
        .await
        .unwrap();
    let after = store.find_order_by_po_number(&po.po_number).await.unwrap();
    assert_eq!(after.unwrap().status, "cancelled");
}

async fn sync_updates_the_created_order_carrying_its_out_order_id(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    let state = store.placing_state(&po.po_number).await.unwrap().unwrap();
    // Placed, but the answer was lost: nothing recorded, only the outOrderId tells.
    let mut placed = order(7001);
    placed.out_order_id = Some(state.out_order_id.clone());
    let target = target(&*store).await;
    let outcome = store
        .write_page(&target, &[prepare(placed, &[shirt_mapping()])])
        .await
        .unwrap();
    assert_eq!((outcome.inserted, outcome.updated), (0, 1));
    assert_synced_into_the_created_order(&db, &*store, &po).await;
    // Linked now: found by its id even without the outOrderId.
    let again = store
        .write_page(&target, &[prepare(order(7001), &[shirt_mapping()])])
        .await
        .unwrap();
    assert_eq!(again.inserted, 0);
    assert_eq!(purchase_order_count(&db).await, 1);
}

/// `order` as read from a page whose text fingerprinted to `raw`.
fn read_as(order: Order1688, raw: Option<u128>) -> IncomingOrder {
    let mut incoming = prepare(order, &[shirt_mapping()]);
    incoming.raw_hash = raw.map(RawHash);
    incoming
}

async fn known_orders_are_the_synced_orders_of_the_window_stored_as_1688_sent_them(db: TestDb) {
    let store = db.store().await;
    let target = target(&*store).await;
    let mut outside = order(8003);
    outside.created_at = window().end + chrono::TimeDelta::seconds(1);
    let page = [
        read_as(order(8001), Some(11)),
        // Read from an order detail, not a page: no fingerprint.
        read_as(order(8002), None),
        read_as(outside, Some(13)),
        read_as(order(8004), Some(14)),
        read_as(order(8005), Some(15)),
    ];
    store.write_page(&target, &page).await.unwrap();
    store
        .add_tombstone(ACCOUNT, 8004, "deleted on purpose")
        .await
        .unwrap();
    let mut elsewhere = target.clone();
    elsewhere.account = "other".into();
    store
        .write_page(&elsewhere, &[read_as(order(8006), Some(16))])
        .await
        .unwrap();

    let known = store.known_orders(ACCOUNT, window()).await.unwrap();
    assert_eq!(
        known,
        HashMap::from([(RawHash(11), 8001), (RawHash(15), 8005)])
    );
    // The shirt lines are mapped, the cup lines wait; the other account's do not count.
    let counts = store.unmapped_line_counts(ACCOUNT, window()).await.unwrap();
    assert_eq!(
        counts,
        HashMap::from([(8001, 1), (8002, 1), (8004, 1), (8005, 1)])
    );

    // The same order sent as another text (a field sync does not read changed) is
    // unchanged, and only its fingerprint follows.
    let updated_at =
        "SELECT CAST(updated_at AS TEXT) FROM purchase_orders WHERE order_id_1688 = 8005";
    let before = db.scalar::<String>(updated_at).await;
    let outcome = store
        .write_page(&target, &[read_as(order(8005), Some(25))])
        .await
        .unwrap();
    assert_eq!((outcome.unchanged, outcome.updated), (1, 0));
    assert_eq!(db.scalar::<String>(updated_at).await, before);
    let known = store.known_orders(ACCOUNT, window()).await.unwrap();
    assert_eq!(known.get(&RawHash(25)), Some(&8005));

    // A change read from a page replaces the fingerprint; one read without a page
    // clears it, so that the order is read again next time.
    let mut changed = order(8001);
    changed.status = "waitsellersend".into();
    let mut also_changed = order(8005);
    also_changed.status = "waitsellersend".into();
    let outcome = store
        .write_page(
            &target,
            &[read_as(changed, Some(21)), read_as(also_changed, None)],
        )
        .await
        .unwrap();
    assert_eq!(outcome.updated, 2);
    let known = store.known_orders(ACCOUNT, window()).await.unwrap();
    assert_eq!(known, HashMap::from([(RawHash(21), 8001)]));
    // Mapping the waiting lines shows in the tally.
    let cup = SkuMapping {
        offer_id: CUP_OFFER,
        spec_id: String::new(),
        merchant_sku: "CUP".into(),
        quantity_ratio: dec("1"),
    };
    store
        .import_merchant_skus(&numbered([merchant_sku("CUP", None)]))
        .await
        .unwrap();
    store.set_mappings(&numbered([cup]), true).await.unwrap();
    let counts = store.unmapped_line_counts(ACCOUNT, window()).await.unwrap();
    assert!(counts.is_empty(), "{counts:?}");
}

async fn an_order_claimed_by_a_created_purchase_order_is_never_known(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    let state = store.placing_state(&po.po_number).await.unwrap().unwrap();
    let mut placed = order(7001);
    placed.out_order_id = Some(state.out_order_id.clone());
    let target = target(&*store).await;
    for _ in 0..2 {
        store
            .write_page(&target, &[read_as(placed.clone(), Some(71))])
            .await
            .unwrap();
        assert!(
            store
                .known_orders(ACCOUNT, window())
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(purchase_order_count(&db).await, 1);
}

async fn a_split_placement_keeps_one_purchase_order_with_its_amounts(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    store
        .record_placement(&po.po_number, &placement(&[7001, 7002]))
        .await
        .unwrap();
    // 1688 split the order: the shirt went into 7001, the cup into 7002.
    let mut shirts = order(7001);
    shirts.lines.truncate(1);
    shirts.total_amount = dec("37.5");
    let mut cups = order(7002);
    cups.lines.remove(0);
    cups.total_amount = dec("2.4");
    let target = target(&*store).await;
    let outcome = store
        .write_page(
            &target,
            &[
                prepare(shirts, &[shirt_mapping()]),
                prepare(cups, &[shirt_mapping()]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome.inserted, 0);
    assert_eq!(purchase_order_count(&db).await, 1);
    let after = store
        .find_order_by_po_number(&po.po_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.total_amount, Some(dec("39.90")));
    let subs: Vec<Option<i64>> = after.lines.iter().map(|l| l.sub_item_id_1688).collect();
    assert_eq!(subs, vec![Some(70011), Some(70022)]);
    let state = store.placing_state(&po.po_number).await.unwrap().unwrap();
    assert_eq!(state.order_ids_1688, vec![7001, 7002]);
}

// ---------------------------------------------------------------------------------------
// Receiving addresses and draft edits

fn address(id: &str, is_default: bool) -> AddressRow {
    AddressRow {
        account: ACCOUNT.into(),
        address_id: id.into(),
        full_name: format!("Receiver {id}"),
        address: "1 Warehouse Road".into(),
        address_code: Some("330106".into()),
        address_code_text: Some("浙江省 杭州市 西湖区".into()),
        post: None,
        phone: None,
        mobile: Some("13800000000".into()),
        is_default,
        fetched_at: DateTime::<Utc>::UNIX_EPOCH,
    }
}

async fn addresses_are_replaced_per_account_and_read_default_first(db: TestDb) {
    let store = db.store().await;
    let before = Utc::now() - chrono::Duration::seconds(5);
    store
        .replace_addresses(ACCOUNT, &[address("a-2", false), address("a-1", false)])
        .await
        .unwrap();
    store
        .replace_addresses("other", &[address("o-1", true)])
        .await
        .unwrap();
    store
        .replace_addresses(
            ACCOUNT,
            &[
                address("a-3", false),
                address("a-9", true),
                address("a-1", false),
            ],
        )
        .await
        .unwrap();
    let stored = store.addresses(ACCOUNT).await.unwrap();
    let ids: Vec<_> = stored.iter().map(|a| a.address_id.as_str()).collect();
    assert_eq!(ids, ["a-9", "a-1", "a-3"]);
    assert!(stored[0].is_default && !stored[1].is_default);
    for a in &stored {
        assert_eq!(a.account, ACCOUNT);
        assert!(a.fetched_at > before, "fetched_at is now: {}", a.fetched_at);
        let expected = AddressRow {
            fetched_at: a.fetched_at,
            ..address(&a.address_id, a.address_id == "a-9")
        };
        assert_eq!(a, &expected);
    }
    let other = store.addresses("other").await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].account, "other");
    store.replace_addresses("other", &[]).await.unwrap();
    assert!(store.addresses("other").await.unwrap().is_empty());
    assert_eq!(store.addresses(ACCOUNT).await.unwrap().len(), 3);
}

async fn editing_a_draft_changes_its_note_warehouse_and_lines(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    let second = store.ensure_warehouse("SECOND").await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    let edited = store
        .edit_draft(
            &po.po_number,
            &DraftEdit {
                note: Some(Some("fragile".into())),
                warehouse_code: Some("SECOND".into()),
                lines: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.note.as_deref(), Some("fragile"));
    assert_eq!(edited.warehouse_id, Some(second));
    assert_eq!(edited.lines, po.lines, "lines are kept");
    assert_eq!(edited.goods_amount, po.goods_amount);
    assert!(edited.updated_at > po.updated_at);

    let mut line = new_po().lines.remove(0);
    line.quantity = dec("4");
    line.merchant_quantity = dec("40");
    line.unit_price = dec("12");
    let edited = store
        .edit_draft(
            &po.po_number,
            &DraftEdit {
                note: Some(None),
                warehouse_code: None,
                lines: Some(vec![line]),
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.note, None, "Some(None) clears the note");
    assert_eq!(edited.warehouse_id, Some(second));
    assert_eq!(edited.goods_amount, Some(dec("48")));
    assert_eq!(edited.status, "draft");
    assert_eq!(edited.lines.len(), 1);
    let shirt = &edited.lines[0];
    assert_eq!(shirt.line_no, 1);
    assert_eq!(shirt.merchant_sku.as_deref(), Some("SHIRT-GREY-3XL"));
    assert_eq!(shirt.amount, dec("48"));
    assert_eq!(shirt.merchant_unit_cost, Some(dec("1.2")));
    assert_eq!(shirt.mapping_status, "mapped");
    assert_eq!(shirt.mapping_source.as_deref(), Some("mapping"));
    let lines = db
        .scalar::<i64>("SELECT count(*) FROM purchase_order_lines")
        .await;
    assert_eq!(lines, 1, "the old lines are gone");

    let unchanged = store
        .edit_draft(&po.po_number, &DraftEdit::default())
        .await
        .unwrap();
    assert_eq!(unchanged.lines, edited.lines);
    assert_eq!(unchanged.note, None);
    assert_eq!(
        store.find_order_by_po_number(&po.po_number).await.unwrap(),
        Some(unchanged)
    );
}

fn note_edit() -> DraftEdit {
    DraftEdit {
        note: Some(Some("too late".into())),
        ..DraftEdit::default()
    }
}

async fn only_drafts_not_yet_placed_can_be_edited_and_the_refusal_says_why(db: TestDb) {
    let store = db.store().await;
    let submitted = created_po(&*store).await;
    store
        .submit_orders(std::slice::from_ref(&submitted.po_number))
        .await
        .unwrap();
    let err = store
        .edit_draft(&submitted.po_number, &note_edit())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotEditable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is on_the_way: only drafts can be edited",
            submitted.po_number
        )
    );

    let placed = store.create_purchase_order(&new_po()).await.unwrap();
    store
        .record_placement(&placed.po_number, &placement(&[7001]))
        .await
        .unwrap();
    let err = store
        .edit_draft(
            &placed.po_number,
            &DraftEdit {
                lines: Some(new_po().lines),
                ..note_edit()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{} was placed on 1688: cancel it there and create a new one",
            placed.po_number
        )
    );

    // Linked to a 1688 order without `placed_at` (e.g. written by an older version).
    let linked = store.create_purchase_order(&new_po()).await.unwrap();
    db.execute(&format!(
        "INSERT INTO purchase_order_links (purchase_order_id, account, order_id_1688)
         VALUES ({}, '{ACCOUNT}', 7009)",
        linked.id
    ))
    .await;
    let err = store
        .edit_draft(&linked.po_number, &note_edit())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was placed on 1688"), "{err}");

    for po in [&submitted, &placed, &linked] {
        let stored = store
            .find_order_by_po_number(&po.po_number)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.note.as_deref(), Some("please pack well"));
        assert_eq!(stored.lines.len(), 2);
    }
}

async fn editing_with_an_unknown_warehouse_or_order_names_it(db: TestDb) {
    let store = db.store().await;
    let po = created_po(&*store).await;
    let err = store
        .edit_draft(
            &po.po_number,
            &DraftEdit {
                warehouse_code: Some("NOWHERE".into()),
                ..note_edit()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Warehouse(WarehouseError::Unknown { code }) if code == "NOWHERE"
        ),
        "{err:?}"
    );
    let stored = store
        .find_order_by_po_number(&po.po_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.note.as_deref(), Some("please pack well"));

    let err = store
        .edit_draft("PO-19990101-0001", &note_edit())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::Rejected(ReceivingError::UnknownOrder { po_number })
                if po_number == "PO-19990101-0001"
        ),
        "{err:?}"
    );
}
