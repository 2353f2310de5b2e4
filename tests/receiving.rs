//! Receiving end to end: a synced order submitted, its parcel's tracking number, scans by
//! merchant SKU and GTIN through the command line and the HTTP API, labels, and
//! warehouses whose deletion sync respects.

#[macro_use]
mod support;

use std::process::Command;

use chrono::{TimeDelta, Utc};
use support::TestDb;
use support::app::TestApp;
use sync1688::daemon::Daemon;
use sync1688::imports::{parse_mappings, parse_merchant_skus};
use sync1688::sandbox::{NewOrder, SandboxConfig};
use tokio_util::sync::CancellationToken;

on_both_backends!(
    a_parcel_is_received_by_sku_and_gtin_partially_then_fully,
    a_deleted_warehouses_orders_stay_deleted_until_imported_on_purpose,
);

/// A synced order of two lines of one mapped offer, submitted and carried by `TRACK-1`.
async fn submitted_order(t: &TestApp) -> (i64, String) {
    let offer = t
        .sandbox
        .offers()
        .into_iter()
        .find(|o| !o.spec_id.is_empty())
        .unwrap();
    let store = t.store();
    store
        .import_merchant_skus(&parse_merchant_skus("CUP-1,4006381333931,Cup\n").unwrap())
        .await
        .unwrap();
    store
        .set_mappings(
            &parse_mappings(&format!("{},{},CUP-1,2\n", offer.offer_id, offer.spec_id)).unwrap(),
            true,
        )
        .await
        .unwrap();
    let id = t.sandbox.insert_order(
        NewOrder::created_at(Utc::now() - TimeDelta::hours(3))
            .with_offer(offer.offer_id, &offer.spec_id, 3)
            .with_status("waitbuyerreceive"),
    );
    assert!(t.sync_once().await.succeeded());
    let order = store.find_synced_order("main", id).await.unwrap().unwrap();
    t.db.execute(&format!(
        "UPDATE purchase_orders SET status = 'on_the_way' WHERE id = {}",
        order.id
    ))
    .await;
    (id, order.po_number)
}

fn sync1688(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sync1688"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("SYNC1688_CONFIG")
        .output()
        .unwrap()
}

async fn a_parcel_is_received_by_sku_and_gtin_partially_then_fully(db: TestDb) {
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
    let (id, po) = submitted_order(&t).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync1688.toml");
    std::fs::write(
        &config,
        support::app::config_toml(t.db.url(), &t.sandbox_config, &t.sandbox.base_url()),
    )
    .unwrap();
    let out_pdf = dir.path().join("labels.pdf");

    let (tracked, dry, first, over, second, labels) = {
        let config = config.clone();
        let po = po.clone();
        let out_pdf = out_pdf.clone();
        tokio::task::spawn_blocking(move || {
            let tracked = sync1688(
                &config,
                &["orders", "set-tracking", &po, "TRACK-1", "--carrier", "ZTO"],
            );
            let dry = sync1688(
                &config,
                &[
                    "receive",
                    "--warehouse",
                    "MAIN",
                    "--tracking",
                    "TRACK-1",
                    "--scan",
                    "CUP-1:2",
                ],
            );
            let first = sync1688(
                &config,
                &[
                    "receive",
                    "--warehouse",
                    "MAIN",
                    "--tracking",
                    "TRACK-1",
                    "--scan",
                    "CUP-1:2",
                    "--commit",
                ],
            );
            let over = sync1688(
                &config,
                &[
                    "receive",
                    "--warehouse",
                    "MAIN",
                    "--tracking",
                    "TRACK-1",
                    "--scan",
                    "4006381333931:5",
                    "--commit",
                ],
            );
            let second = sync1688(
                &config,
                &[
                    "receive",
                    "--warehouse",
                    "MAIN",
                    "--tracking",
                    "TRACK-1",
                    "--scan",
                    "4006381333931:4",
                    "--commit",
                ],
            );
            let labels = sync1688(
                &config,
                &[
                    "labels",
                    "1",
                    "--out",
                    out_pdf.to_str().unwrap(),
                    "--per",
                    "unit",
                ],
            );
            (tracked, dry, first, over, second, labels)
        })
        .await
        .unwrap()
    };

    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(tracked.status.success(), "{}", text(&tracked));
    assert!(
        dry.status.success() && text(&dry).contains("Dry run"),
        "{}",
        text(&dry)
    );
    assert!(first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("on_the_way → partially_received"),
        "{}",
        text(&first)
    );
    assert_eq!(over.status.code(), Some(1), "{}", text(&over));
    assert!(
        text(&over).contains("4006381333931"),
        "the refusal names the scanned code: {}",
        text(&over)
    );
    assert!(second.status.success(), "{}", text(&second));
    assert!(
        text(&second).contains("partially_received → received"),
        "{}",
        text(&second)
    );
    assert!(labels.status.success(), "{}", text(&labels));
    assert!(std::fs::read(&out_pdf).unwrap().starts_with(b"%PDF"));
    let order = t
        .store()
        .find_synced_order("main", id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, "received");
    assert_eq!(
        order.lines[0].received_qty.normalize().to_string(),
        "6",
        "3 packs of 2"
    );
    let on_hand =
        t.db.scalar::<String>(
            "SELECT CAST(on_hand AS TEXT) FROM inventory WHERE merchant_sku = 'CUP-1'",
        )
        .await;
    assert_eq!(
        on_hand
            .parse::<rust_decimal::Decimal>()
            .unwrap()
            .normalize()
            .to_string(),
        "6"
    );
    let movements =
        t.db.scalar::<i64>("SELECT COUNT(*) FROM inventory_movements WHERE reason = 'receipt'")
            .await;
    assert_eq!(movements, 2);
}

async fn a_deleted_warehouses_orders_stay_deleted_until_imported_on_purpose(db: TestDb) {
    let t = TestApp::start(
        db,
        SandboxConfig {
            orders: 30,
            days: 2,
            ..SandboxConfig::default()
        },
        "",
    )
    .await;
    assert!(t.sync_once().await.succeeded());
    let store = t.store();
    let one = t.sandbox.order_ids()[0];

    let deletion = store.delete_warehouse("MAIN", false).await.unwrap();
    assert_eq!(deletion.purchase_orders, 30);
    assert_eq!(deletion.tombstones, 30);
    store.add_warehouse("MAIN", "Main warehouse").await.unwrap();
    let resync = t.sync_once().await;
    assert!(resync.succeeded());
    assert_eq!(resync.counts.orders_skipped, 30);
    assert_eq!(
        t.db.scalar::<i64>("SELECT COUNT(*) FROM purchase_orders")
            .await,
        0
    );

    let imported = sync1688::sync::import_one(&t.app, "main", one, "MAIN")
        .await
        .unwrap();

    assert_eq!(imported.inserted, 1);
    assert!(
        store
            .find_synced_order("main", one)
            .await
            .unwrap()
            .is_some()
    );
    let after = t.sync_once().await;
    assert_eq!(
        after.counts.orders_skipped, 29,
        "the others stay tombstoned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_receiving_api_wants_its_token_and_answers_with_the_same_rules() {
    let token = "receiving-api-token-0123456789";
    let extra = format!("[http]\nlisten = \"127.0.0.1:0\"\napi_token = \"{token}\"\n");
    let t = TestApp::start(
        TestDb::sqlite(),
        SandboxConfig {
            orders: 0,
            days: 2,
            ..SandboxConfig::default()
        },
        &extra,
    )
    .await;
    let (_id, po) = submitted_order(&t).await;
    t.store()
        .add_tracking_number(
            &po,
            "TRACK-9",
            None,
            sync1688::domain::receiving::TrackingSource::Manual,
        )
        .await
        .unwrap();
    let settings = t.app.settings().clone();
    let daemon = Daemon::bind(sync1688::app::Application::build(settings).await.unwrap())
        .await
        .unwrap();
    let url = format!("http://{}/api/receipts", daemon.local_addr());
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { daemon.run_until_stopped(stop).await.unwrap() }
    });
    let http = reqwest::Client::new();
    let body =
        serde_json::json!({"warehouse": "MAIN", "tracking_no": "TRACK-9", "scans": ["CUP-1:2"]});

    let anonymous = http.post(&url).json(&body).send().await.unwrap();
    let wrong = http
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    let too_many = http
        .post(&url)
        .bearer_auth(token)
        .json(&serde_json::json!({"warehouse": "MAIN", "tracking_no": "TRACK-9", "scans": [{"code": "CUP-1", "quantity": "99"}]}))
        .send()
        .await
        .unwrap();
    let too_many_status = too_many.status().as_u16();
    let too_many_body: serde_json::Value = too_many.json().await.unwrap();
    let received = http
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let received_status = received.status().as_u16();
    let received_body: serde_json::Value = received.json().await.unwrap();
    stop.cancel();
    task.await.unwrap();

    assert_eq!(anonymous.status().as_u16(), 401);
    assert_eq!(wrong.status().as_u16(), 401);
    assert_eq!(too_many_status, 422);
    assert!(
        too_many_body["error"].as_str().unwrap().contains("CUP-1"),
        "{too_many_body}"
    );
    assert_eq!(received_status, 201, "{received_body}");
    assert!(received_body["receipt_id"].as_i64().is_some());
    assert_eq!(received_body["orders"][0]["status"], "partially_received");
}
