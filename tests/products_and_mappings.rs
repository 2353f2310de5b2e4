//! Products, suppliers and mappings end to end: adding 1688 products one by one and in
//! bulk, suppliers shared with the order sync, mapping rules, and "Create Mapping
//! Relations" fixing exactly the lines that wait.

#[macro_use]
mod support;

use std::collections::HashSet;

use support::TestDb;
use support::app::TestApp;
use sync1688::imports::{mappings_csv, parse_mappings, parse_merchant_skus};
use sync1688::products::{AddOutcome, add_products};
use sync1688::sandbox::SandboxConfig;
use sync1688::store::StoreError;

on_both_backends!(
    a_product_is_added_by_id_and_by_url_with_its_skus_and_supplier,
    a_bulk_add_reports_every_row_and_a_bad_row_loses_nothing,
    a_products_supplier_is_the_same_row_as_its_orders_supplier,
    a_mapping_must_name_a_known_merchant_sku_and_a_sku_of_the_product,
    creating_a_mapping_fixes_exactly_the_waiting_lines,
    the_unmapped_queue_counts_the_lines_and_orders_that_wait,
    an_export_imports_into_another_database_unchanged,
);

fn sandbox(orders: usize) -> SandboxConfig {
    SandboxConfig {
        orders,
        days: 2,
        ..SandboxConfig::default()
    }
}

/// The distinct offers of the sandbox's catalogue, buyable ones first.
fn offer_ids(t: &TestApp) -> Vec<i64> {
    let mut seen = HashSet::new();
    t.sandbox
        .offers()
        .into_iter()
        .filter(|o| o.status == "published")
        .map(|o| o.offer_id)
        .filter(|id| seen.insert(*id))
        .collect()
}

async fn add(t: &TestApp, inputs: &[&str]) -> Vec<sync1688::products::AddRow> {
    let client = t.app.client("main").unwrap();
    let inputs = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| (i + 1, s.to_string()))
        .collect();
    add_products(t.store().as_ref(), &client, inputs).await
}

async fn merchant_skus(t: &TestApp, skus: &[&str]) {
    let text: String = skus.iter().map(|s| format!("{s},,{s} name\n")).collect();
    t.store()
        .import_merchant_skus(&parse_merchant_skus(&text).unwrap())
        .await
        .unwrap();
}

async fn a_product_is_added_by_id_and_by_url_with_its_skus_and_supplier(db: TestDb) {
    let t = TestApp::start(db, sandbox(0), "").await;
    let offers = offer_ids(&t);
    let (by_id, by_url) = (offers[0], offers[1]);

    let rows = add(
        &t,
        &[
            &by_id.to_string(),
            &format!("https://detail.1688.com/offer/{by_url}.html?spm=a2615"),
        ],
    )
    .await;

    assert_eq!(rows[0].outcome, AddOutcome::Added, "{rows:?}");
    assert_eq!(rows[1].outcome, AddOutcome::Added, "{rows:?}");
    assert!(
        t.sandbox.calls("alibaba.product.follow") >= 2,
        "offers are followed before they are read"
    );
    let stored = t.store().product_skus(Some(by_id)).await.unwrap();
    let expected: Vec<_> = t
        .sandbox
        .offers()
        .into_iter()
        .filter(|o| o.offer_id == by_id)
        .collect();
    assert_eq!(stored.len(), expected.len());
    for sku in &expected {
        let found = stored
            .iter()
            .find(|s| s.spec_id == sku.spec_id)
            .expect("every SKU is stored");
        assert_eq!(found.attributes, sku.attributes);
        assert_eq!(found.supplier_login_id, sku.seller_login_id);
    }
    let again = add(&t, &[&by_id.to_string()]).await;
    assert_eq!(again[0].outcome, AddOutcome::AlreadyPresent);
}

async fn a_bulk_add_reports_every_row_and_a_bad_row_loses_nothing(db: TestDb) {
    let t = TestApp::start(db, sandbox(0), "").await;
    let offers = offer_ids(&t);
    let expired = offers[2];
    t.sandbox.set_offer_status(expired, "expired");
    let good = [offers[0].to_string(), offers[1].to_string()];

    let rows = add(
        &t,
        &[
            &good[0],
            "not-an-offer",
            &good[1],
            &good[0],
            &expired.to_string(),
            "999999999",
        ],
    )
    .await;

    let outcomes: Vec<String> = rows.iter().map(|r| r.outcome.to_string()).collect();
    assert_eq!(rows[0].outcome, AddOutcome::Added, "{outcomes:?}");
    assert!(
        rows[1].failed() && outcomes[1].contains("not-an-offer"),
        "{outcomes:?}"
    );
    assert_eq!(rows[2].outcome, AddOutcome::Added, "{outcomes:?}");
    assert_eq!(rows[3].outcome, AddOutcome::Duplicate { first_line: 1 });
    assert!(
        rows[4].failed() && outcomes[4].contains("expired"),
        "{outcomes:?}"
    );
    assert!(
        rows[5].failed() && outcomes[5].contains("999999999"),
        "{outcomes:?}"
    );
    let stored: HashSet<i64> = t
        .store()
        .product_skus(None)
        .await
        .unwrap()
        .iter()
        .map(|s| s.offer_id)
        .collect();
    assert_eq!(stored, HashSet::from([offers[0], offers[1]]));
}

async fn a_products_supplier_is_the_same_row_as_its_orders_supplier(db: TestDb) {
    let t = TestApp::start(db, sandbox(80), "").await;
    assert!(t.sync_once().await.succeeded());
    let suppliers_before = t.store().list_suppliers().await.unwrap();
    let order_offer =
        t.db.scalar::<i64>("SELECT offer_id FROM purchase_order_lines ORDER BY id LIMIT 1")
            .await;

    let rows = add(&t, &[&order_offer.to_string()]).await;

    assert!(!rows[0].failed(), "{rows:?}");
    let suppliers_after = t.store().list_suppliers().await.unwrap();
    assert_eq!(
        suppliers_before.len(),
        suppliers_after.len(),
        "no second supplier row"
    );
    let product_supplier =
        t.db.scalar::<i64>(&format!(
            "SELECT supplier_id FROM products_1688 WHERE offer_id = {order_offer}"
        ))
        .await;
    let order_supplier = t
        .db
        .scalar::<i64>(&format!(
            "SELECT o.supplier_id FROM purchase_orders o JOIN purchase_order_lines l ON l.purchase_order_id = o.id \
             WHERE l.offer_id = {order_offer} LIMIT 1"
        ))
        .await;
    assert_eq!(product_supplier, order_supplier);
    let row = suppliers_after
        .iter()
        .find(|s| s.id == product_supplier)
        .unwrap();
    assert_eq!(row.products, 1);
    assert!(row.purchase_orders >= 1);
}

async fn a_mapping_must_name_a_known_merchant_sku_and_a_sku_of_the_product(db: TestDb) {
    let t = TestApp::start(db, sandbox(0), "").await;
    let offer = offer_ids(&t)[0];
    assert!(!add(&t, &[&offer.to_string()]).await[0].failed());
    merchant_skus(&t, &["CUP-1"]).await;
    let store = t.store();
    let real_spec = store.product_skus(Some(offer)).await.unwrap()[0]
        .spec_id
        .clone();
    let rows = |csv: &str| parse_mappings(csv).unwrap();

    let unknown_sku = store
        .set_mappings(&rows(&format!("{offer},{real_spec},NOPE-9\n")), false)
        .await
        .unwrap_err();
    let foreign_spec = store
        .set_mappings(
            &rows(&format!("{offer},ffffffffffffffffffffffffffffffff,CUP-1\n")),
            false,
        )
        .await
        .unwrap_err();

    for (err, needle) in [
        (&unknown_sku, "NOPE-9"),
        (&foreign_spec, "ffffffffffffffffffffffffffffffff"),
    ] {
        assert!(
            matches!(err, StoreError::InvalidRow { line: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(
        store.load_mappings().await.unwrap().is_empty(),
        "nothing was written"
    );
    let forced = store
        .set_mappings(
            &rows(&format!("{offer},ffffffffffffffffffffffffffffffff,CUP-1\n")),
            true,
        )
        .await
        .unwrap();
    assert_eq!(forced.inserted, 1);
    let not_added = store
        .set_mappings(&rows("123456789,anything,CUP-1\n"), false)
        .await
        .unwrap();
    assert_eq!(
        not_added.inserted, 1,
        "an offer without a stored product takes any spec"
    );
    assert!(store.delete_mapping(123_456_789, "anything").await.unwrap());
    assert!(!store.delete_mapping(123_456_789, "anything").await.unwrap());
}

async fn creating_a_mapping_fixes_exactly_the_waiting_lines(db: TestDb) {
    let t = TestApp::start(db, sandbox(120), "").await;
    assert!(t.sync_once().await.succeeded());
    let item = t.store().unmapped_items(1).await.unwrap().remove(0);
    let (offer, spec) = (item.offer_id, item.spec_id.clone());
    let waiting = format!(
        "FROM purchase_order_lines WHERE offer_id = {offer} AND spec_id = '{spec}' AND mapping_status = 'unmapped'"
    );
    let total =
        t.db.scalar::<i64>(&format!("SELECT COUNT(*) {waiting}"))
            .await;
    assert!(total >= 2, "the busiest unmapped SKU has several lines");
    // One line was chosen by hand, one order has already been received.
    merchant_skus(&t, &["HAND", "AUTO"]).await;
    t.db
        .execute(&format!(
            "UPDATE purchase_order_lines SET merchant_sku = 'HAND', mapping_status = 'mapped', mapping_source = 'manual' \
             WHERE id = (SELECT MIN(id) {waiting})"
        ))
        .await;
    t.db
        .execute(&format!(
            "UPDATE purchase_orders SET status = 'received' WHERE id = (SELECT purchase_order_id {waiting} ORDER BY id LIMIT 1)"
        ))
        .await;
    let still_waiting = t
        .db
        .scalar::<i64>(&format!(
            "SELECT COUNT(*) {waiting} AND purchase_order_id IN (SELECT id FROM purchase_orders WHERE status NOT IN ('received', 'cancelled'))"
        ))
        .await;

    let change = t
        .store()
        .set_mappings(
            &parse_mappings(&format!("{offer},{spec},AUTO,3\n")).unwrap(),
            true,
        )
        .await
        .unwrap();

    assert_eq!(change.lines_remapped as i64, still_waiting);
    let hand = t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_order_lines WHERE merchant_sku = 'HAND' AND mapping_source = 'manual'").await;
    assert_eq!(hand, 1, "the hand-picked line is left alone");
    let received_unmapped = t
        .db
        .scalar::<i64>(&format!(
            "SELECT COUNT(*) {waiting} AND purchase_order_id IN (SELECT id FROM purchase_orders WHERE status = 'received')"
        ))
        .await;
    assert!(
        received_unmapped >= 1,
        "a received order is history and is not re-mapped"
    );
    let converted = t
        .db
        .scalar::<i64>(
            "SELECT COUNT(*) FROM purchase_order_lines WHERE merchant_sku = 'AUTO' AND merchant_quantity = quantity * 3",
        )
        .await;
    assert_eq!(converted, still_waiting);
    let inconsistent = t
        .db
        .scalar::<i64>(
            "SELECT COUNT(*) FROM purchase_orders o WHERE o.has_unmapped <> EXISTS \
             (SELECT 1 FROM purchase_order_lines l WHERE l.purchase_order_id = o.id AND l.mapping_status = 'unmapped')",
        )
        .await;
    assert_eq!(inconsistent, 0);
}

async fn the_unmapped_queue_counts_the_lines_and_orders_that_wait(db: TestDb) {
    let t = TestApp::start(db, sandbox(100), "").await;
    assert!(t.sync_once().await.succeeded());
    let items = t.store().unmapped_items(1000).await.unwrap();
    let lines: u64 = items.iter().map(|i| i.lines).sum();
    let expected = t
        .db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id \
                        WHERE l.mapping_status = 'unmapped' AND o.status NOT IN ('received', 'cancelled')")
        .await;
    assert_eq!(lines as i64, expected);
    for pair in items.windows(2) {
        assert!(pair[0].lines >= pair[1].lines, "most lines first");
    }
    let top = &items[0];
    assert!(top.orders >= 1 && top.orders <= top.lines);
    assert!(top.oldest_order_at.is_some());
    let view =
        t.db.scalar::<i64>("SELECT COUNT(*) FROM unmapped_1688_items")
            .await;
    assert_eq!(view as usize, items.len());
}

async fn an_export_imports_into_another_database_unchanged(db: TestDb) {
    let t = TestApp::start(db, sandbox(0), "").await;
    merchant_skus(&t, &["A-1", "B-2"]).await;
    let csv = "1001,aaaa,A-1,10\n1002,,B-2\n1003,bbbb,B-2,0.5\n";
    t.store()
        .set_mappings(&parse_mappings(csv).unwrap(), true)
        .await
        .unwrap();

    let exported = mappings_csv(&t.store().load_mappings().await.unwrap());
    let other_db = TestDb::sqlite();
    let other = other_db.store().await;
    other
        .import_merchant_skus(&parse_merchant_skus("A-1,,a\nB-2,,b\n").unwrap())
        .await
        .unwrap();
    other
        .set_mappings(&parse_mappings(&exported).unwrap(), false)
        .await
        .unwrap();

    let mut here = t.store().load_mappings().await.unwrap();
    let mut there = other.load_mappings().await.unwrap();
    here.sort_by_key(|m| (m.offer_id, m.spec_id.clone()));
    there.sort_by_key(|m| (m.offer_id, m.spec_id.clone()));
    assert_eq!(here.len(), 3);
    for (a, b) in here.iter().zip(&there) {
        assert_eq!(
            (a.offer_id, &a.spec_id, &a.merchant_sku),
            (b.offer_id, &b.spec_id, &b.merchant_sku)
        );
        assert_eq!(a.quantity_ratio.normalize(), b.quantity_ratio.normalize());
    }
}
