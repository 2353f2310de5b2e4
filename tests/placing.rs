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
