//! The one-shot sync end to end: the application in-process, the sandbox on port 0, a
//! fresh database per test, every test on PostgreSQL and on SQLite.

#[macro_use]
mod support;

use chrono::{DateTime, Days, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use support::TestDb;
use support::app::TestApp;
use sync1688::domain::window::local_midnight;
use sync1688::sandbox::{Fault, NewOrder, OrderChange, SandboxConfig};
use sync1688::store::Backend;
use sync1688::sync::WRITE_BATCH_ORDERS;

on_both_backends!(
    an_order_created_at_midnight_two_days_ago_is_synced_but_not_one_a_millisecond_earlier,
    an_order_with_a_minus_0700_timestamp_is_stored_as_the_same_instant,
    an_order_id_above_2_pow_53_is_stored_exactly,
    several_pages_arrive_once_despite_a_502_and_a_rate_limit_on_the_way,
    a_second_run_of_the_same_window_writes_nothing,
    a_page_with_one_changed_order_is_read_and_the_change_written,
    erp_side_changes_survive_a_resync_of_a_changed_order,
    lines_are_mapped_or_flagged_and_the_order_knows,
    a_failure_in_the_middle_of_a_page_leaves_none_of_that_pages_orders,
    a_failed_run_is_recorded_with_its_reason,
    a_mapping_created_during_a_run_reaches_the_lines_that_run_wrote,
);

fn quiet_sandbox(orders: usize, days: u32) -> SandboxConfig {
    SandboxConfig {
        orders,
        days,
        ..SandboxConfig::default()
    }
}

/// Midnight, China time, of the day `days_ago` days before today (China time).
fn china_midnight(days_ago: u64) -> DateTime<Utc> {
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    local_midnight(
        today.checked_sub_days(Days::new(days_ago)).unwrap(),
        Shanghai,
    )
    .unwrap()
}

async fn an_order_created_at_midnight_two_days_ago_is_synced_but_not_one_a_millisecond_earlier(
    db: TestDb,
) {
    let t = TestApp::start(db, quiet_sandbox(0, 2), "").await;
    let start = china_midnight(2);
    let on_the_edge = t.sandbox.insert_order(NewOrder::created_at(start));
    let just_before = t
        .sandbox
        .insert_order(NewOrder::created_at(start - TimeDelta::milliseconds(1)));

    let report = t.sync_once().await;

    assert!(report.succeeded(), "{:?}", report.errors);
    assert_eq!(report.window.start, start);
    let store = t.store();
    let synced = store.find_synced_order("main", on_the_edge).await.unwrap();
    assert_eq!(
        synced
            .expect("the midnight order is synced")
            .created_at_1688,
        Some(start)
    );
    assert!(
        store
            .find_synced_order("main", just_before)
            .await
            .unwrap()
            .is_none()
    );
}

async fn an_order_with_a_minus_0700_timestamp_is_stored_as_the_same_instant(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(0, 2), "").await;
    let created = Utc::now() - TimeDelta::hours(5);
    let created = DateTime::from_timestamp_millis(created.timestamp_millis()).unwrap();
    let id = t
        .sandbox
        .insert_order(NewOrder::created_at(created).with_offset_hours(-7));

    assert!(t.sync_once().await.succeeded());

    let order = t
        .store()
        .find_synced_order("main", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.created_at_1688, Some(created));
}

async fn an_order_id_above_2_pow_53_is_stored_exactly(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(0, 2), "").await;
    let id: i64 = 3_657_499_272_179_232_333;
    assert!(id > 1 << 53);
    t.sandbox
        .insert_order(NewOrder::created_at(Utc::now() - TimeDelta::hours(1)).with_id(id));

    assert!(t.sync_once().await.succeeded());

    let order = t
        .store()
        .find_synced_order("main", id)
        .await
        .unwrap()
        .expect("stored under its exact id");
    assert_eq!(order.order_id_1688, Some(id));
    assert_eq!(order.po_number, format!("1688-{id}"));
    let text: String =
        t.db.scalar::<String>(&format!(
            "SELECT CAST(order_id_1688 AS TEXT) FROM purchase_orders WHERE order_id_1688 = {id}"
        ))
        .await;
    assert_eq!(text, "3657499272179232333");
}

async fn several_pages_arrive_once_despite_a_502_and_a_rate_limit_on_the_way(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(180, 2), "").await;
    t.sandbox
        .push_faults([Fault::BadGateway, Fault::RateLimited, Fault::TruncatedJson]);

    let report = t.sync_once().await;

    assert!(report.succeeded(), "{:?}", report.errors);
    assert_eq!(report.counts.orders_seen, 180);
    assert_eq!(report.counts.orders_inserted, 180);
    assert_eq!(report.counts.pages, 4);
    assert!(
        t.sandbox.calls("alibaba.trade.getBuyerOrderList") >= 4 + 3,
        "the faults were retried"
    );
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await,
        180
    );
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(DISTINCT order_id_1688) FROM purchase_orders")
            .await,
        180
    );
    for id in t.sandbox.order_ids() {
        assert!(
            t.store()
                .find_synced_order("main", id)
                .await
                .unwrap()
                .is_some(),
            "order {id} missing"
        );
    }
}

async fn a_second_run_of_the_same_window_writes_nothing(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(120, 2), "").await;
    let first = t.sync_once().await;
    assert!(first.succeeded());
    assert_eq!(first.orders_known, 0);
    let before =
        t.db.scalar::<String>("SELECT CAST(MAX(updated_at) AS TEXT) FROM purchase_orders")
            .await;
    let lines_before =
        t.db.scalar::<String>("SELECT CAST(MAX(updated_at) AS TEXT) FROM purchase_order_lines")
            .await;

    let second = t.sync_once().await;

    assert!(second.succeeded(), "{:?}", second.errors);
    assert_eq!(second.counts.orders_seen, 120);
    assert_eq!(second.counts.orders_unchanged, 120);
    assert_eq!(
        second.counts.orders_inserted + second.counts.orders_updated,
        0
    );
    // Every page was found stored as it was, and not read; the tallies are the same.
    assert_eq!(second.orders_known, 120);
    assert_eq!(second.counts.lines_unmapped, first.counts.lines_unmapped);
    assert!(first.counts.lines_unmapped > 0);
    assert_eq!(second.counts.pages, first.counts.pages);
    let after =
        t.db.scalar::<String>("SELECT CAST(MAX(updated_at) AS TEXT) FROM purchase_orders")
            .await;
    let lines_after =
        t.db.scalar::<String>("SELECT CAST(MAX(updated_at) AS TEXT) FROM purchase_order_lines")
            .await;
    assert_eq!(before, after);
    assert_eq!(lines_before, lines_after);
}

async fn a_page_with_one_changed_order_is_read_and_the_change_written(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(120, 2), "").await;
    assert!(t.sync_once().await.succeeded());
    let id =
        t.db.scalar::<i64>("SELECT MAX(order_id_1688) FROM purchase_orders")
            .await;
    t.sandbox
        .modify_order(id, OrderChange::Status("waitsellersend".into()));

    let second = t.sync_once().await;

    assert!(second.succeeded(), "{:?}", second.errors);
    assert_eq!(second.counts.orders_updated, 1);
    assert_eq!(second.counts.orders_unchanged, 119);
    // The changed order's page was read in full, the other pages were not.
    assert!(
        second.orders_known > 0 && second.orders_known < 119,
        "{} known",
        second.orders_known
    );
    let order = t
        .store()
        .find_synced_order("main", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status_1688.as_deref(), Some("waitsellersend"));
    // Its new text is known from now on.
    let third = t.sync_once().await;
    assert_eq!(third.orders_known, 120);
    assert_eq!(third.counts.orders_updated, 0);
}

async fn erp_side_changes_survive_a_resync_of_a_changed_order(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(0, 2), "").await;
    let id = t
        .sandbox
        .insert_order(NewOrder::created_at(Utc::now() - TimeDelta::hours(2)).with_lines(2));
    assert!(t.sync_once().await.succeeded());
    // Another ERP tool submits the order, adds a note, moves it and picks a SKU by hand.
    t.db.execute("INSERT INTO warehouses (code, name) VALUES ('B2', 'Second warehouse')")
        .await;
    t.db.execute(
        "INSERT INTO merchant_skus (sku, name) VALUES ('HAND-PICKED', 'Chosen by a person')",
    )
    .await;
    t.db
        .execute(&format!(
            "UPDATE purchase_orders SET status = 'on_the_way', note = 'call the supplier', \
             warehouse_id = (SELECT id FROM warehouses WHERE code = 'B2') WHERE order_id_1688 = {id}"
        ))
        .await;
    t.db.execute(&format!(
        "UPDATE purchase_order_lines SET merchant_sku = 'HAND-PICKED', mapping_status = 'mapped', \
             mapping_source = 'manual' WHERE line_no = 1 AND purchase_order_id = \
             (SELECT id FROM purchase_orders WHERE order_id_1688 = {id})"
    ))
    .await;
    // Meanwhile on 1688 the order is paid and closed by the seller.
    t.sandbox
        .modify_order(id, OrderChange::Status("cancel".into()));

    let report = t.sync_once().await;

    assert!(report.succeeded(), "{:?}", report.errors);
    assert_eq!(report.counts.orders_updated, 1);
    let order = t
        .store()
        .find_synced_order("main", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        order.status_1688.as_deref(),
        Some("cancel"),
        "1688's field follows 1688"
    );
    assert_eq!(
        order.status, "on_the_way",
        "a submitted order keeps the ERP's status"
    );
    assert_eq!(order.note.as_deref(), Some("call the supplier"));
    let b2 =
        t.db.scalar::<i64>("SELECT id FROM warehouses WHERE code = 'B2'")
            .await;
    assert_eq!(order.warehouse_id, Some(b2));
    let first = &order.lines[0];
    assert_eq!(first.merchant_sku.as_deref(), Some("HAND-PICKED"));
    assert_eq!(first.mapping_source.as_deref(), Some("manual"));
}

async fn lines_are_mapped_or_flagged_and_the_order_knows(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(60, 2), "").await;
    let offers = t.sandbox.offers();
    let mapped_offer = &offers[0];
    let store = t.store();
    let skus = sync1688::imports::parse_merchant_skus("M-1,,Mapped thing\n").unwrap();
    store.import_merchant_skus(&skus).await.unwrap();
    let csv = format!("{},{},M-1,2\n", mapped_offer.offer_id, mapped_offer.spec_id);
    store
        .import_mappings(&sync1688::imports::parse_mappings(&csv).unwrap())
        .await
        .unwrap();
    let fully_mapped = t.sandbox.insert_order(
        NewOrder::created_at(Utc::now() - TimeDelta::minutes(30)).with_offer(
            mapped_offer.offer_id,
            &mapped_offer.spec_id,
            3,
        ),
    );

    let report = t.sync_once().await;

    assert!(report.succeeded(), "{:?}", report.errors);
    let order = store
        .find_synced_order("main", fully_mapped)
        .await
        .unwrap()
        .unwrap();
    assert!(!order.has_unmapped);
    let line = &order.lines[0];
    assert_eq!(line.mapping_status, "mapped");
    assert_eq!(line.merchant_sku.as_deref(), Some("M-1"));
    assert_eq!(
        line.merchant_quantity,
        Some(line.quantity * rust_decimal::Decimal::TWO)
    );
    // Every other line is unmapped, and its order says so.
    let unmapped_lines = t
        .db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_order_lines WHERE mapping_status = 'unmapped' AND merchant_sku IS NULL")
        .await;
    assert_eq!(unmapped_lines as u64, report.counts.lines_unmapped);
    let inconsistent = t
        .db
        .scalar::<i64>(
            "SELECT COUNT(*) FROM purchase_orders o WHERE o.has_unmapped <> EXISTS \
             (SELECT 1 FROM purchase_order_lines l WHERE l.purchase_order_id = o.id AND l.mapping_status = 'unmapped')",
        )
        .await;
    assert_eq!(inconsistent, 0);
    assert!(unmapped_lines > 0);
}

async fn a_failure_in_the_middle_of_a_page_leaves_none_of_that_pages_orders(db: TestDb) {
    // Pages are written a few at a time, WRITE_BATCH_ORDERS orders to a transaction:
    // two whole batches over the last two days, then one more order at the window's
    // first instant, on the last page (newest first, 50 a page) with the 20 oldest.
    let batches = 2 * WRITE_BATCH_ORDERS;
    let t = TestApp::start(
        db,
        quiet_sandbox(batches + 20, 2),
        "[sync]\npage_concurrency = 1\n",
    )
    .await;
    let oldest = t
        .sandbox
        .insert_order(NewOrder::created_at(china_midnight(2)).with_lines(3));
    install_failing_line_trigger(&t.db, oldest).await;

    let report = t.sync_once().await;

    assert!(!report.succeeded());
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await,
        batches as i64,
        "the batches before the failing one only"
    );
    assert!(
        t.store()
            .find_synced_order("main", oldest)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_order_lines l LEFT JOIN purchase_orders o ON o.id = l.purchase_order_id WHERE o.id IS NULL").await, 0);
}

async fn a_failed_run_is_recorded_with_its_reason(db: TestDb) {
    let t = TestApp::start(db, quiet_sandbox(10, 2), "[api]\nmax_retries = 1\n").await;
    t.sandbox
        .push_faults([Fault::BadGateway, Fault::BadGateway, Fault::BadGateway]);

    let report = t.sync_once().await;

    assert!(!report.succeeded());
    let runs = t.store().recent_runs(5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "failed");
    let error = runs[0].error.as_deref().unwrap_or_default();
    assert!(error.contains("HTTP 502"), "{error}");
    // The next run repairs it.
    let next = t.sync_once().await;
    assert!(next.succeeded(), "{:?}", next.errors);
    assert_eq!(next.counts.orders_inserted, 10);
}

/// Makes the database refuse the lines of one order, as a constraint of another tool or a
/// failing disk would, half-way through the page that carries it.
async fn install_failing_line_trigger(db: &TestDb, order_id_1688: i64) {
    match db.backend() {
        Backend::Postgres => {
            db.execute(&format!(
                "CREATE FUNCTION refuse_line() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF (SELECT order_id_1688 FROM purchase_orders WHERE id = NEW.purchase_order_id) = {order_id_1688} \
                 THEN RAISE EXCEPTION 'refused by a test trigger'; END IF; RETURN NEW; END $$; \
                 CREATE TRIGGER refuse_line BEFORE INSERT ON purchase_order_lines \
                 FOR EACH ROW EXECUTE FUNCTION refuse_line();"
            ))
            .await;
        }
        Backend::Sqlite => {
            db.execute(&format!(
                "CREATE TRIGGER refuse_line BEFORE INSERT ON purchase_order_lines \
                 WHEN (SELECT order_id_1688 FROM purchase_orders WHERE id = NEW.purchase_order_id) = {order_id_1688} \
                 BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END;"
            ))
            .await;
        }
    }
}

async fn a_mapping_created_during_a_run_reaches_the_lines_that_run_wrote(db: TestDb) {
    let slow = SandboxConfig {
        latency: std::time::Duration::from_millis(150),
        ..quiet_sandbox(200, 2)
    };
    let t = TestApp::start(db, slow, "[sync]\npage_concurrency = 1\n").await;
    let offer = t.sandbox.offers()[0].clone();
    let store = t.store();
    store
        .import_merchant_skus(
            &sync1688::imports::parse_merchant_skus("LATE-1,,Mapped mid-run\n").unwrap(),
        )
        .await
        .unwrap();
    let csv = format!("{},{},LATE-1\n", offer.offer_id, offer.spec_id);

    let (report, ()) = tokio::join!(t.sync_once(), async {
        // Page 1 is written by now; the later pages are not.
        tokio::time::sleep(std::time::Duration::from_millis(450)).await;
        store
            .set_mappings(&sync1688::imports::parse_mappings(&csv).unwrap(), true)
            .await
            .unwrap();
    });

    assert!(report.succeeded(), "{:?}", report.errors);
    let waiting = t
        .db
        .scalar::<i64>(&format!(
            "SELECT COUNT(*) FROM purchase_order_lines l JOIN purchase_orders o ON o.id = l.purchase_order_id \
             WHERE l.offer_id = {} AND l.spec_id = '{}' AND l.mapping_status = 'unmapped' AND o.status <> 'cancelled'",
            offer.offer_id, offer.spec_id
        ))
        .await;
    assert_eq!(waiting, 0);
    let mapped = t
        .db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_order_lines WHERE merchant_sku = 'LATE-1'")
        .await;
    assert!(mapped > 0, "the offer has lines");
}

on_both_backends!(
    a_hostile_1688_loses_no_order_and_writes_none_twice,
    a_page_short_of_what_total_record_promised_fails_the_run_and_the_next_one_repairs_it,
);

async fn a_page_short_of_what_total_record_promised_fails_the_run_and_the_next_one_repairs_it(
    db: TestDb,
) {
    let t = TestApp::start(db, quiet_sandbox(120, 2), "[sync]\npage_concurrency = 1\n").await;
    t.sandbox.push_faults([Fault::ShortPage]);

    let short = t.sync_once().await;
    let repaired = t.sync_once().await;

    assert!(!short.succeeded());
    assert!(
        short.errors.iter().any(|e| e.contains("totalRecord")),
        "{:?}",
        short.errors
    );
    assert_eq!(
        short.counts.orders_seen, 95,
        "pages 2 and 3 were still read: 25 + 50 + 20"
    );
    assert!(repaired.succeeded(), "{:?}", repaired.errors);
    assert_eq!(repaired.counts.orders_inserted, 25);
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await,
        120
    );
}

/// 10% of answers a proxy's 502 page, plus a cut body, a rate-limit burst and an answer
/// slower than the client waits, and orders that change between two pages of the run:
/// every order arrives exactly once, with the content 1688 ends with, and every failure
/// is recorded with its reason.
async fn a_hostile_1688_loses_no_order_and_writes_none_twice(db: TestDb) {
    let hostile = SandboxConfig {
        error_rate: 0.1,
        ..quiet_sandbox(400, 2)
    };
    let t = TestApp::start(
        db,
        hostile,
        "[api]\ntimeout_secs = 1\n[sync]\npage_concurrency = 2\n",
    )
    .await;
    t.sandbox.push_faults([
        Fault::TruncatedJson,
        Fault::RateLimited,
        Fault::RateLimited,
        Fault::RateLimited,
        Fault::Delay(std::time::Duration::from_millis(1500)),
        Fault::ServerError,
    ]);
    let ids = t.sandbox.order_ids();
    let (first, ()) = tokio::join!(t.sync_once(), async {
        // Orders change while the run pages through them.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        for id in ids.iter().take(5) {
            t.sandbox
                .modify_order(*id, OrderChange::Status("waitsellersend".into()));
        }
    });
    let mut reports = vec![first];
    while !reports.last().unwrap().succeeded() && reports.len() < 5 {
        reports.push(t.sync_once().await);
    }
    // One more run picks up whatever changed during the last one.
    reports.push(t.sync_once().await);

    assert!(
        reports.last().unwrap().succeeded(),
        "{:?}",
        reports.last().unwrap().errors
    );
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await,
        ids.len() as i64
    );
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(DISTINCT order_id_1688) FROM purchase_orders")
            .await,
        ids.len() as i64,
        "no order twice"
    );
    for id in ids.iter().take(5) {
        let order = t
            .store()
            .find_synced_order("main", *id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            order.status_1688.as_deref(),
            Some("waitsellersend"),
            "order {id} is current"
        );
    }
    let runs = t.store().recent_runs(20).await.unwrap();
    assert_eq!(runs.len(), reports.len());
    for run in runs.iter().filter(|r| r.status == "failed") {
        assert!(
            run.error.as_deref().is_some_and(|e| !e.is_empty()),
            "a failed run says why"
        );
    }
    let lines_without_order =
        t.db.scalar::<i64>(
            "SELECT COUNT(*) FROM purchase_orders o WHERE NOT EXISTS \
             (SELECT 1 FROM purchase_order_lines l WHERE l.purchase_order_id = o.id)",
        )
        .await;
    assert_eq!(lines_without_order, 0);
}
