//! Placing 1688 orders through the client against the sandbox: the preview's refusals,
//! and exactly one 1688 order however the create call times out.

#[macro_use]
mod support;

use std::time::Duration;

use rust_decimal::Decimal;
use support::TestDb;
use support::app::TestApp;
use sync1688::api1688::ApiError;
use sync1688::api1688::purchasing::Cargo;
use sync1688::sandbox::{Fault, SandboxConfig};

async fn app(extra: &str) -> TestApp {
    TestApp::start(
        TestDb::sqlite(),
        SandboxConfig {
            orders: 0,
            days: 2,
            ..SandboxConfig::default()
        },
        extra,
    )
    .await
}

/// A cargo of the sandbox's first buyable SKU, at its minimum order quantity.
fn first_cargo(t: &TestApp) -> Cargo {
    let offer = t
        .sandbox
        .offers()
        .into_iter()
        .find(|o| o.status == "published" && !o.spec_id.is_empty())
        .unwrap();
    Cargo {
        offer_id: offer.offer_id,
        spec_id: offer.spec_id,
        quantity: Decimal::from(offer.min_order_quantity.max(1)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_that_times_out_still_makes_exactly_one_1688_order() {
    let t = app("[api]\ntimeout_secs = 1\n").await;
    let client = t.app.client("main").unwrap();
    let address = client
        .receive_addresses()
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.is_default)
        .unwrap();
    let cargo = first_cargo(&t);
    // The first create is answered after the client gave up; the order exists anyway.
    t.sandbox
        .push_faults([Fault::Delay(Duration::from_millis(1500))]);

    let placed = client
        .place_order(
            &address.id,
            &[cargo],
            Some("请用纸箱包装"),
            "sync1688-test-1",
        )
        .await
        .unwrap();

    assert_eq!(placed.order_ids.len(), 1);
    assert_eq!(
        t.sandbox.orders_by_out_order_id("sync1688-test-1"),
        placed.order_ids
    );
    let again = client
        .place_order(&address.id, &[first_cargo(&t)], None, "sync1688-test-1")
        .await
        .unwrap();
    assert_eq!(
        again.order_ids, placed.order_ids,
        "the same outOrderId never orders twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_preview_refuses_a_quantity_over_stock_naming_the_sku() {
    let t = app("").await;
    let client = t.app.client("main").unwrap();
    let address = client.receive_addresses().await.unwrap().remove(0);
    let mut cargo = first_cargo(&t);
    cargo.quantity = Decimal::from(10_000_000);

    let err = client
        .preview_order(&address.id, &[cargo.clone()])
        .await
        .unwrap_err();

    match &err {
        ApiError::Business { code, message, .. } => {
            assert_eq!(code, "500_004");
            assert!(message.contains(&cargo.offer_id.to_string()), "{message}");
        }
        other => panic!("not a business error: {other}"),
    }
    let ok = client
        .preview_order(&address.id, &[first_cargo(&t)])
        .await
        .unwrap();
    assert!(ok.total > Decimal::ZERO && !ok.trade_modes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_order_reports_every_1688_order_and_cancel_waits_ten_seconds() {
    let t = app("").await;
    let client = t.app.client("main").unwrap();
    let address = client.receive_addresses().await.unwrap().remove(0);
    let seller = t
        .sandbox
        .offers()
        .into_iter()
        .find(|o| o.status == "published")
        .unwrap()
        .seller_login_id;
    let cargos: Vec<Cargo> = t
        .sandbox
        .offers()
        .into_iter()
        .filter(|o| o.seller_login_id == seller && o.status == "published")
        .take(2)
        .map(|o| Cargo {
            offer_id: o.offer_id,
            spec_id: o.spec_id,
            quantity: Decimal::from(o.min_order_quantity.max(1) * 2),
        })
        .collect();
    assert_eq!(cargos.len(), 2);
    t.sandbox.split_next_create();

    let placed = client
        .place_order(&address.id, &cargos, None, "sync1688-split")
        .await
        .unwrap();
    let all = client
        .orders_by_out_order_id("sync1688-split")
        .await
        .unwrap();

    assert_eq!(all.len(), 2, "1688 split the order in two");
    assert!(
        placed
            .order_ids
            .iter()
            .all(|id| all.iter().any(|o| o.order_id == *id))
    );
    let too_fast = client
        .cancel_order(all[0].order_id, "buyerCancel", None)
        .await
        .unwrap_err();
    assert!(
        too_fast.to_string().contains("CLOSE_ORDER_TOO_FAST"),
        "{too_fast}"
    );
    t.sandbox
        .age_order(all[0].order_id, Duration::from_secs(30));
    client
        .cancel_order(all[0].order_id, "buyerCancel", Some("ordered twice"))
        .await
        .unwrap();
    let url = client.pay_url(&[all[1].order_id]).await.unwrap();
    assert!(url.contains(&all[1].order_id.to_string()));
}

on_both_backends!(
    a_created_order_is_placed_once_and_the_sync_updates_it_instead_of_duplicating,
    tracking_numbers_arrive_per_parcel_with_their_lines_and_a_1688_cancel_cancels_a_draft,
    a_draft_is_edited_until_it_is_placed_and_addresses_come_from_the_database,
);

/// An app whose first two-SKU buyable offer is added, its SKUs mapped to BOX-1 (ratio 2)
/// and BOX-2 (ratio 1), with a warehouse MAIN.
async fn prepared(
    db: TestDb,
) -> (
    TestApp,
    sync1688::sandbox::SandboxOffer,
    sync1688::sandbox::SandboxOffer,
) {
    let t = TestApp::start(
        db,
        SandboxConfig {
            orders: 0,
            days: 2,
            ..SandboxConfig::default()
        },
        "",
    )
    .await;
    let offers = t.sandbox.offers();
    let (a, b) = offers
        .iter()
        .filter(|o| o.status == "published" && !o.spec_id.is_empty())
        .find_map(|a| {
            offers
                .iter()
                .find(|b| b.offer_id == a.offer_id && b.spec_id != a.spec_id)
                .map(|b| (a.clone(), b.clone()))
        })
        .expect("an offer with two SKUs");
    let client = t.app.client("main").unwrap();
    let added = sync1688::products::add_products(
        t.store().as_ref(),
        &client,
        vec![(1, a.offer_id.to_string())],
    )
    .await;
    assert!(!added[0].failed(), "{added:?}");
    let store = t.store();
    store
        .import_merchant_skus(
            &sync1688::imports::parse_merchant_skus(
                "BOX-1,,Box\nBOX-2,,Box two\nLOOSE-1,,Not mapped\n",
            )
            .unwrap(),
        )
        .await
        .unwrap();
    store
        .set_mappings(
            &sync1688::imports::parse_mappings(&format!(
                "{},{},BOX-1,2\n{},{},BOX-2,1\n",
                a.offer_id, a.spec_id, b.offer_id, b.spec_id
            ))
            .unwrap(),
            false,
        )
        .await
        .unwrap();
    store.add_warehouse("MAIN", "Main").await.unwrap();
    (t, a, b)
}

async fn tracking_numbers_arrive_per_parcel_with_their_lines_and_a_1688_cancel_cancels_a_draft(
    db: TestDb,
) {
    use sync1688::domain::purchasing::WantedLine;
    use sync1688::purchasing::{CreateRequest, cancel, create, place, submit};
    use sync1688::sandbox::{OrderChange, Shipment};
    let (t, a, _b) = prepared(db).await;
    let moq = a.min_order_quantity.max(1);
    let request = CreateRequest {
        account: "main".into(),
        supplier: a.seller_login_id.clone(),
        warehouse: "MAIN".into(),
        lines: vec![
            WantedLine::parse(&format!("BOX-1:{}", moq * 2)).unwrap(),
            WantedLine::parse(&format!("BOX-2:{moq}")).unwrap(),
        ],
        note: None,
        address_id: None,
    };
    let shipped = create(&t.app, &request).await.unwrap();
    let order_id = place(&t.app, &shipped.po_number).await.unwrap().order_ids[0];
    submit(&t.app, std::slice::from_ref(&shipped.po_number))
        .await
        .unwrap();
    let cancelled = create(&t.app, &request).await.unwrap();
    let cancelled_id = place(&t.app, &cancelled.po_number).await.unwrap().order_ids[0];

    // 1688: paid, then two parcels, one line each; the other order is closed unpaid.
    t.sandbox.modify_order(order_id, OrderChange::Pay);
    for (line, bill) in [(0, "ZT1000000001"), (1, "ZT1000000002")] {
        t.sandbox.modify_order(
            order_id,
            OrderChange::Ship(Shipment {
                lines: vec![line],
                company: Some("中通快递(ZTO)".into()),
                bill_no: Some(bill.into()),
            }),
        );
    }
    t.sandbox
        .age_order(cancelled_id, std::time::Duration::from_secs(60));
    cancel(&t.app, &cancelled.po_number).await.unwrap();
    assert!(t.sync_once().await.succeeded());
    let new = t.app.track("main").await;

    assert_eq!(new, 2, "one tracking number per parcel");
    let order = t
        .store()
        .find_order_by_po_number(&shipped.po_number)
        .await
        .unwrap()
        .unwrap();
    for (line, bill) in [(0, "ZT1000000001"), (1, "ZT1000000002")] {
        let carried =
            t.db.scalar::<String>(&format!(
                "SELECT sub_item_ids FROM tracking_numbers WHERE tracking_no = '{bill}'"
            ))
            .await;
        assert_eq!(
            carried,
            order.lines[line].sub_item_id_1688.unwrap().to_string(),
            "{bill} carries line {line}"
        );
    }
    assert_eq!(t.app.track("main").await, 0, "known parcels are not new");
    let traces = t
        .app
        .client("main")
        .unwrap()
        .traces(order_id)
        .await
        .unwrap();
    assert_eq!(traces.len(), 2, "a trace per parcel, on request");
    assert!(traces.iter().all(|trace| !trace.steps.is_empty()));
    let closed = t
        .store()
        .find_order_by_po_number(&cancelled.po_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.status_1688.as_deref(), Some("cancel"));
    assert_eq!(
        closed.status, "cancelled",
        "a draft closed on 1688 is cancelled"
    );
}

async fn a_created_order_is_placed_once_and_the_sync_updates_it_instead_of_duplicating(db: TestDb) {
    use sync1688::domain::purchasing::WantedLine;
    use sync1688::purchasing::{CreateRequest, create, place, submit};
    let (t, offer, _) = prepared(db).await;
    let store = t.store();
    let quantity = offer.min_order_quantity.max(1) * 2 * 2;
    let request = |lines: &[&str]| CreateRequest {
        account: "main".into(),
        supplier: offer.seller_login_id.clone(),
        warehouse: "MAIN".into(),
        lines: lines
            .iter()
            .map(|l| WantedLine::parse(l).unwrap())
            .collect(),
        note: Some("请尽快发货".into()),
        address_id: None,
    };

    let unmapped = create(&t.app, &request(&["LOOSE-1:3"]))
        .await
        .unwrap_err()
        .to_string();
    let odd = create(&t.app, &request(&["BOX-1:3"]))
        .await
        .unwrap_err()
        .to_string();
    let draft = create(&t.app, &request(&[&format!("BOX-1:{quantity}")]))
        .await
        .unwrap();
    let placed = place(&t.app, &draft.po_number).await.unwrap();
    let again = place(&t.app, &draft.po_number).await.unwrap();
    let synced = t.sync_once().await;

    assert!(unmapped.contains("LOOSE-1"), "{unmapped}");
    assert!(odd.contains("multiple of 2"), "{odd}");
    assert_eq!(draft.status, "draft");
    assert_eq!(draft.source, "1688_created");
    assert_eq!(
        draft.lines[0].quantity.normalize().to_string(),
        (quantity / 2).to_string(),
        "merchant units became 1688 units"
    );
    assert_eq!(placed.order_ids.len(), 1);
    assert!(placed.pay_url.is_some());
    assert!(
        again.already && again.order_ids == placed.order_ids,
        "placing twice orders once"
    );
    assert_eq!(t.sandbox.order_ids().len(), 1, "one 1688 order");
    assert!(synced.succeeded(), "{:?}", synced.errors);
    assert_eq!(
        synced.counts.orders_inserted, 0,
        "the sync found our own order"
    );
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await,
        1
    );
    let order = store
        .find_order_by_po_number(&draft.po_number)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status_1688.as_deref(), Some("waitbuyerpay"));
    assert_eq!(order.order_id_1688, Some(placed.order_ids[0]));
    assert!(
        order.lines[0].sub_item_id_1688.is_some(),
        "the line knows its 1688 line"
    );
    let submitted = submit(&t.app, &[draft.po_number.clone(), "PO-NOPE".into()])
        .await
        .unwrap();
    assert!(submitted[0].result.is_ok());
    assert!(
        submitted[1]
            .result
            .as_ref()
            .unwrap_err()
            .contains("PO-NOPE")
    );
    let resubmitted = submit(&t.app, std::slice::from_ref(&draft.po_number))
        .await
        .unwrap();
    assert!(
        resubmitted[0]
            .result
            .as_ref()
            .unwrap_err()
            .contains("on_the_way")
    );
}

async fn a_draft_is_edited_until_it_is_placed_and_addresses_come_from_the_database(db: TestDb) {
    use sync1688::domain::purchasing::WantedLine;
    use sync1688::purchasing::{CreateRequest, addresses, create, edit, place};
    let (t, a, _b) = prepared(db).await;
    let moq = a.min_order_quantity.max(1);
    let request = CreateRequest {
        account: "main".into(),
        supplier: a.seller_login_id.clone(),
        warehouse: "MAIN".into(),
        lines: vec![WantedLine::parse(&format!("BOX-1:{}", moq * 2)).unwrap()],
        note: Some("first".into()),
        address_id: None,
    };
    let draft = create(&t.app, &request).await.unwrap();
    let fetched = t.sandbox.calls("alibaba.trade.receiveAddress.get");
    t.store().add_warehouse("EAST", "East").await.unwrap();

    let edited = edit(
        &t.app,
        &draft.po_number,
        Some(Some("second".into())),
        Some("EAST".into()),
        Some(vec![
            WantedLine::parse(&format!("BOX-1:{}", moq * 2)).unwrap(),
            WantedLine::parse(&format!("BOX-2:{moq}")).unwrap(),
        ]),
    )
    .await
    .unwrap();
    let bad_lines = edit(
        &t.app,
        &draft.po_number,
        None,
        None,
        Some(vec![WantedLine::parse("LOOSE-1:1").unwrap()]),
    )
    .await
    .unwrap_err()
    .to_string();
    place(&t.app, &draft.po_number).await.unwrap();
    let after_placing = edit(&t.app, &draft.po_number, Some(None), None, None)
        .await
        .unwrap_err()
        .to_string();
    let cached = addresses(&t.app, "main", false).await.unwrap();
    t.sandbox.clear_addresses();
    let refreshed = addresses(&t.app, "main", true).await.unwrap();
    let calls_after_refresh = t.sandbox.calls("alibaba.trade.receiveAddress.get");
    let without_address = create(&t.app, &request).await.unwrap_err().to_string();

    assert_eq!(edited.note.as_deref(), Some("second"));
    assert_eq!(edited.lines.len(), 2);
    let east =
        t.db.scalar::<i64>("SELECT id FROM warehouses WHERE code = 'EAST'")
            .await;
    assert_eq!(edited.warehouse_id, Some(east));
    assert!(bad_lines.contains("LOOSE-1"), "{bad_lines}");
    assert!(after_placing.contains("placed"), "{after_placing}");
    assert_eq!(fetched, 1, "the addresses were read from 1688 once");
    assert!(
        !cached.is_empty() && cached[0].is_default,
        "the default first"
    );
    assert_eq!(calls_after_refresh, 2, "only --refresh asks 1688 again");
    assert!(refreshed.is_empty());
    assert!(
        without_address.contains("add one on 1688"),
        "{without_address}"
    );
}
