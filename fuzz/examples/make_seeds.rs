//! Writes the seed corpora of the fuzz targets into `fuzz/seeds/<target>/`: the raw
//! bodies the sandbox answers (orders, tokens, products, purchasing, logistics and the
//! gateway's failures), the documented error shapes the sandbox does not produce, and
//! import files built from the sandbox's catalogue.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds`
//!
//! Each target's folder is emptied and written anew. The sandbox runs on a fixed seed and
//! clock, so a re-run changes only the random tokens and request ids.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sync1688::api1688::signing;
use sync1688::imports::{parse_mappings, parse_merchant_skus, with_check_digit};
use sync1688::sandbox::{self, Fault, SandboxConfig, SandboxHandle, SandboxOffer};

const TRADE: &str = "com.alibaba.trade";
const LOGISTICS: &str = "com.alibaba.logistics";
const PRODUCT: &str = "com.alibaba.product";

/// One HTTP answer, as the client reads it: status and the body's bytes.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

struct Gateway {
    sb: SandboxHandle,
    http: reqwest::Client,
    token: String,
}

impl Gateway {
    fn url(&self, namespace: &str, api: &str, app_key: &str) -> String {
        format!(
            "{}/param2/1/{namespace}/{api}/{app_key}",
            self.sb.base_url()
        )
    }

    async fn post(&self, url: String, form: &[(String, String)]) -> Answer {
        let resp = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .expect("sandbox answers");
        Answer {
            status: resp.status().as_u16(),
            body: resp.bytes().await.expect("a whole body").to_vec(),
        }
    }

    /// A signed business call with the access token, as `Client1688` makes it.
    async fn call(&self, namespace: &str, api: &str, params: &[(&str, &str)]) -> Answer {
        let app_key = &self.sb.config().app_key;
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        form.push(("access_token".into(), self.token.clone()));
        let path = signing::url_path(1, namespace, api, app_key);
        let signature = signing::sign(
            &self.sb.config().app_secret,
            &path,
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        form.push((signing::SIGNATURE_PARAM.into(), signature));
        self.post(self.url(namespace, api, app_key), &form).await
    }

    /// An unsigned `system.oauth2/*` call.
    async fn oauth(&self, api: &str, form: &[(&str, &str)]) -> Answer {
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.post(
            self.url("system.oauth2", api, &self.sb.config().app_key),
            &form,
        )
        .await
    }
}

/// Where the files go, and what was written.
struct Seeds {
    root: PathBuf,
    written: BTreeMap<String, Vec<String>>,
}

impl Seeds {
    fn new(root: PathBuf) -> Self {
        Seeds {
            root,
            written: BTreeMap::new(),
        }
    }

    fn put(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        if !self.written.contains_key(target) {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("the seed folder can be made");
        }
        std::fs::write(dir.join(name), bytes).expect("the seed can be written");
        self.written
            .entry(target.to_owned())
            .or_default()
            .push(format!("{name} ({} bytes)", bytes.len()));
    }

    /// Keeps an answer's body; asserts its status so a sandbox change cannot quietly
    /// replace a seed with an unrelated error.
    fn answer(&mut self, target: &str, name: &str, answer: &Answer, status: u16) {
        assert_eq!(
            answer.status,
            status,
            "{target}/{name}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        self.put(target, name, &answer.body);
    }
}

fn fixed_now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-20T09:30:00+08:00")
        .expect("a valid time")
        .with_timezone(&Utc)
}

fn cargo(row: &SandboxOffer, quantity: i64) -> Value {
    let mut c = json!({"offerId": row.offer_id, "quantity": quantity});
    if !row.spec_id.is_empty() {
        c["specId"] = json!(row.spec_id);
    }
    c
}

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let config = SandboxConfig {
        orders: 40,
        days: 10,
        now: Some(fixed_now()),
        ..SandboxConfig::default()
    };
    let sb = sandbox::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("the sandbox starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let mut gw = Gateway {
        sb,
        http,
        token: String::new(),
    };
    let mut seeds = Seeds::new(root);

    tokens(&mut gw, &mut seeds).await;
    orders(&gw, &mut seeds).await;
    gateway_failures(&gw, &mut seeds).await;
    products(&gw, &mut seeds).await;
    purchasing(&gw, &mut seeds).await;
    imports(&gw, &mut seeds);

    for (target, files) in &seeds.written {
        println!("{target}: {}", files.join(", "));
    }
    gw.sb.shutdown().await;
}

async fn tokens(gw: &mut Gateway, seeds: &mut Seeds) {
    let c = gw.sb.config().clone();
    let refreshed = gw
        .oauth(
            "getToken",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.app_key),
                ("client_secret", &c.app_secret),
                ("refresh_token", &c.refresh_token),
            ],
        )
        .await;
    seeds.answer("token_answer", "refreshed.json", &refreshed, 200);
    let body: Value = serde_json::from_slice(&refreshed.body).expect("a JSON token answer");
    gw.token = body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();

    let code = gw.sb.issue_authorization_code();
    let redirect_uri = "https://erp.example.com/1688/callback";
    let exchanged = gw
        .oauth(
            "getToken",
            &[
                ("grant_type", "authorization_code"),
                ("need_refresh_token", "true"),
                ("client_id", &c.app_key),
                ("client_secret", &c.app_secret),
                ("redirect_uri", redirect_uri),
                ("code", &code),
            ],
        )
        .await;
    seeds.answer("token_answer", "code_exchanged.json", &exchanged, 200);
    let refused = gw
        .oauth(
            "getToken",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.app_key),
                ("client_secret", &c.app_secret),
                ("refresh_token", "no-such-token"),
            ],
        )
        .await;
    seeds.answer("token_answer", "invalid_grant.json", &refused, 400);
    let bad_client = gw
        .oauth(
            "getToken",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", &c.app_key),
                ("client_secret", "wrong"),
                ("refresh_token", &c.refresh_token),
            ],
        )
        .await;
    seeds.answer("token_answer", "invalid_client.json", &bad_client, 401);
    let early = gw
        .oauth(
            "postponeToken",
            &[
                ("client_id", &c.app_key),
                ("client_secret", &c.app_secret),
                ("refresh_token", &c.refresh_token),
                ("access_token", &gw.token),
            ],
        )
        .await;
    seeds.answer("token_answer", "postpone_too_early.json", &early, 400);
    // The documented sample (1688-open-api.md §3), without milliseconds in the timeout.
    seeds.put(
        "token_answer",
        "documented_sample.json",
        r#"{"refresh_token_timeout":"20121222222222+0800","aliId":"1711749575","resource_owner":"海豚供应链","memberId":"b2b-1711749575","expires_in":"36000","refresh_token":"527bc519-0d5c-4e5a-9d1b-2c3d4e5f6a7b","access_token":"81dfefd1-1111-2222-3333-444455556666"}"#.as_bytes(),
    );
}

/// Orders by status, from the first page of every order.
async fn list_all(gw: &Gateway) -> Vec<Value> {
    let a = gw
        .call(
            TRADE,
            "alibaba.trade.getBuyerOrderList",
            &[("page", "1"), ("pageSize", "50")],
        )
        .await;
    let body: Value = serde_json::from_slice(&a.body).expect("a JSON order list");
    body["result"].as_array().cloned().unwrap_or_default()
}

fn order_id(trade: &Value) -> String {
    trade["baseInfo"]["idOfStr"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| trade["baseInfo"]["id"].to_string())
}

async fn orders(gw: &Gateway, seeds: &mut Seeds) {
    const LIST: &str = "alibaba.trade.getBuyerOrderList";
    let page = gw
        .call(TRADE, LIST, &[("page", "1"), ("pageSize", "2")])
        .await;
    seeds.answer("order_list", "page_of_two.json", &page, 200);
    let full = gw
        .call(
            TRADE,
            LIST,
            &[
                ("page", "3"),
                ("pageSize", "1"),
                ("needBuyerAddressAndPhone", "true"),
                ("needMemoInfo", "true"),
            ],
        )
        .await;
    seeds.answer("order_list", "with_address_and_memo.json", &full, 200);
    let past_end = gw
        .call(TRADE, LIST, &[("page", "99"), ("pageSize", "50")])
        .await;
    seeds.answer("order_list", "past_the_end.json", &past_end, 200);
    gw.sb.push_faults([Fault::TruncatedJson]);
    let cut = gw
        .call(TRADE, LIST, &[("page", "1"), ("pageSize", "1")])
        .await;
    seeds.answer("order_list", "cut_in_half.json", &cut, 200);
    let bad_window = gw
        .call(
            TRADE,
            LIST,
            &[("createStartTime", "yesterday"), ("page", "1")],
        )
        .await;
    seeds.answer("order_list", "param_error.json", &bad_window, 200);

    let all = list_all(gw).await;
    let mut by_status: BTreeMap<String, String> = BTreeMap::new();
    for trade in &all {
        let status = trade["baseInfo"]["status"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        by_status.entry(status).or_insert_with(|| order_id(trade));
    }
    for status in ["waitbuyerpay", "waitbuyerreceive", "success", "cancel"] {
        let Some(id) = by_status.get(status) else {
            continue;
        };
        let detail = gw
            .call(
                TRADE,
                "alibaba.trade.get.buyerView",
                &[("webSite", "1688"), ("orderId", id)],
            )
            .await;
        seeds.answer("order_detail", &format!("{status}.json"), &detail, 200);
        if status == "waitbuyerreceive" || status == "success" {
            let parcels = gw
                .call(
                    LOGISTICS,
                    "alibaba.trade.getLogisticsInfos.buyerView",
                    &[("orderId", id), ("webSite", "1688")],
                )
                .await;
            seeds.answer(
                "logistics",
                &format!("parcels_{status}.json"),
                &parcels,
                200,
            );
            let trace = gw
                .call(
                    LOGISTICS,
                    "alibaba.trade.getLogisticsTraceInfo.buyerView",
                    &[("orderId", id), ("webSite", "1688")],
                )
                .await;
            seeds.answer("logistics", &format!("trace_{status}.json"), &trace, 200);
        }
        if status == "waitbuyerpay" {
            let none = gw
                .call(
                    LOGISTICS,
                    "alibaba.trade.getLogisticsInfos.buyerView",
                    &[("orderId", id), ("webSite", "1688")],
                )
                .await;
            seeds.answer("logistics", "not_shipped.json", &none, 200);
        }
    }
    // The documented example with the float-damaged id (1688-open-api.md §4.2).
    seeds.put(
        "order_detail",
        "float_damaged_id.json",
        br#"{"result":{"baseInfo":{"id":58218860983545944,"idOfStr":"58218860983545941","status":"waitsellersend","createTime":"20170913231708000-0700","discount":-3989,"sumProductPayment":39.9,"shippingFee":0,"totalAmount":0.01},"productItems":[{"itemAmount":0.01,"price":39.9,"productID":574273466269,"quantity":1,"subItemIDString":"58218860983545941"}]}}"#,
    );
}

async fn gateway_failures(gw: &Gateway, seeds: &mut Seeds) {
    const LIST: &str = "alibaba.trade.getBuyerOrderList";
    let faults = [
        (Fault::BadGateway, "bad_gateway.html", 502),
        (Fault::RateLimited, "rate_limited.json", 400),
        (Fault::ServerError, "server_error.json", 500),
        (Fault::Unauthorized, "unauthorized.json", 401),
    ];
    for (fault, name, status) in faults {
        gw.sb.push_faults([fault]);
        let a = gw.call(TRADE, LIST, &[("page", "1")]).await;
        seeds.answer("gateway_answer", name, &a, status);
    }
    let app_key = &gw.sb.config().app_key;
    let unsigned = gw
        .post(
            gw.url(TRADE, LIST, app_key),
            &[("access_token".into(), gw.token.clone())],
        )
        .await;
    seeds.answer("gateway_answer", "signature_missing.json", &unsigned, 400);
    let unsupported = gw.call(TRADE, "alibaba.trade.noSuchApi", &[]).await;
    seeds.answer("gateway_answer", "api_unsupported.json", &unsupported, 400);
    let acl = gw
        .call(PRODUCT, "alibaba.product.get", &[("productID", "1")])
        .await;
    seeds.answer("gateway_answer", "acl_decline.json", &acl, 400);
    let cancel = gw
        .call(
            TRADE,
            "alibaba.trade.cancel",
            &[
                ("webSite", "1688"),
                ("tradeID", "1"),
                ("cancelReason", "buyerCancel"),
            ],
        )
        .await;
    seeds.answer("gateway_answer", "order_not_exist.json", &cancel, 200);
    // Shapes of §8 that the sandbox never sends.
    seeds.put(
        "gateway_answer",
        "no_usage_left.json",
        br#"{"error_code":"gw.NoUsageLeftError","error_message":"SLA bill has no usage left","exception":"SLA bill has no usage left","request_id":"0bb3e4f517"}"#,
    );
    seeds.put(
        "gateway_answer",
        "pay_url_refused.json",
        "{\"success\":false,\"errorCode\":\"ORDER_STATUS_ERROR\",\"erroMsg\":\"订单状态不允许支付\"}"
            .as_bytes(),
    );
}

async fn products(gw: &Gateway, seeds: &mut Seeds) {
    let offers = gw.sb.offers();
    let with_skus = offers
        .iter()
        .find(|o| !o.spec_id.is_empty() && o.status == "published")
        .expect("an offer with SKUs");
    let without_skus = offers
        .iter()
        .find(|o| o.spec_id.is_empty() && o.status == "published")
        .expect("an offer without SKUs");
    let unfollowed = gw
        .call(
            PRODUCT,
            "alibaba.cross.productInfo",
            &[("productId", &with_skus.offer_id.to_string())],
        )
        .await;
    seeds.answer("product_info", "not_followed.json", &unfollowed, 200);
    for (offer, name) in [
        (with_skus, "with_skus.json"),
        (without_skus, "without_skus.json"),
    ] {
        let id = offer.offer_id.to_string();
        let follow = gw
            .call(PRODUCT, "alibaba.product.follow", &[("productId", &id)])
            .await;
        assert_eq!(follow.status, 200);
        let info = gw
            .call(PRODUCT, "alibaba.cross.productInfo", &[("productId", &id)])
            .await;
        seeds.answer("product_info", name, &info, 200);
    }
    let unknown = gw
        .call(PRODUCT, "alibaba.cross.productInfo", &[("productId", "1")])
        .await;
    seeds.answer("product_info", "unknown_offer.json", &unknown, 200);
}

async fn purchasing(gw: &Gateway, seeds: &mut Seeds) {
    let mut by_seller: BTreeMap<String, Vec<SandboxOffer>> = BTreeMap::new();
    let mut seen_offers = std::collections::BTreeSet::new();
    for row in gw.sb.offers() {
        if row.status == "published"
            && row.stock >= i64::from(row.min_order_quantity)
            && seen_offers.insert(row.offer_id)
        {
            by_seller
                .entry(row.seller_login_id.clone())
                .or_default()
                .push(row);
        }
    }
    let rows = by_seller
        .into_values()
        .find(|rows| rows.len() > sandbox::SPLIT_ABOVE_OFFERS)
        .expect("a seller with enough offers to split a cart");
    let address = gw
        .sb
        .addresses()
        .into_iter()
        .find(|a| a.is_default)
        .expect("a default address");
    let address = json!({"addressId": address.id.to_string()}).to_string();
    let cart = |rows: &[SandboxOffer]| -> String {
        Value::Array(
            rows.iter()
                .map(|r| cargo(r, i64::from(r.min_order_quantity)))
                .collect(),
        )
        .to_string()
    };
    let one = cart(&rows[..1]);
    let split = cart(&rows[..=sandbox::SPLIT_ABOVE_OFFERS]);
    let too_many = Value::Array(vec![cargo(&rows[0], rows[0].stock + 1)]).to_string();

    for (name, cargos) in [
        ("one_order.json", &one),
        ("split_in_two.json", &split),
        ("above_stock.json", &too_many),
    ] {
        let a = gw
            .call(
                TRADE,
                "alibaba.createOrder.preview",
                &[
                    ("addressParam", &address),
                    ("cargoParamList", cargos),
                    ("flow", "general"),
                ],
            )
            .await;
        seeds.answer("order_preview", name, &a, 200);
    }
    let create = |api: &'static str, cargos: String, out_order_id: &'static str| {
        let address = address.clone();
        async move {
            gw.call(
                TRADE,
                api,
                &[
                    ("flow", "general"),
                    ("addressParam", &address),
                    ("cargoParamList", &cargos),
                    ("outOrderId", out_order_id),
                ],
            )
            .await
        }
    };
    let fast = create("alibaba.trade.fastCreateOrder", one.clone(), "po-1").await;
    seeds.answer("order_placed", "fast_create.json", &fast, 200);
    let cross = create("alibaba.trade.createCrossOrder", split.clone(), "po-2").await;
    seeds.answer("order_placed", "cross_split.json", &cross, 200);
    let refused = create("alibaba.trade.fastCreateOrder", too_many, "po-3").await;
    seeds.answer("order_placed", "above_stock.json", &refused, 200);
    // The placed orders now have an outOrderId: a list page that finds one by it.
    let by_out_order = gw
        .call(
            TRADE,
            "alibaba.trade.getBuyerOrderList",
            &[("outOrderId", "po-1"), ("page", "1"), ("pageSize", "50")],
        )
        .await;
    seeds.answer("order_list", "by_out_order_id.json", &by_out_order, 200);
}

fn imports(gw: &Gateway, seeds: &mut Seeds) {
    let offers = gw.sb.offers();
    // SKUs of three offers, two of them from one offer, and an offer without SKUs.
    let mut seen = std::collections::BTreeSet::new();
    let mut picked: Vec<&SandboxOffer> = offers
        .iter()
        .filter(|o| !o.spec_id.is_empty() && seen.insert(o.offer_id))
        .take(3)
        .collect();
    picked.extend(
        offers
            .iter()
            .filter(|o| o.offer_id == picked[0].offer_id)
            .nth(1),
    );
    picked.extend(offers.iter().find(|o| o.spec_id.is_empty()));

    let mut skus = String::from("sku,gtin,name\n");
    let mut mappings = String::from("offer_id,spec_id,merchant_sku,quantity_ratio\n");
    let mut offer_refs = String::from("offer\n# offers to follow\n");
    for (i, o) in picked.iter().enumerate() {
        let sku = format!("ERP-{}", o.cargo_number);
        let unique = o.sku_id.unwrap_or(o.offer_id) % 10_000_000_000;
        let gtin = with_check_digit(&format!("69{unique:010}"));
        let name = format!("{} {}", o.title, o.attributes).trim().to_owned();
        skus.push_str(&format!("{sku},{gtin},\"{}\"\n", name.replace('"', "\"\"")));
        let ratio = if i % 2 == 0 { "1" } else { "12" };
        mappings.push_str(&format!("{},{},{sku},{ratio}\n", o.offer_id, o.spec_id));
        if i % 2 == 0 {
            offer_refs.push_str(&format!("{}\n", o.offer_id));
        } else {
            offer_refs.push_str(&format!(
                "https://detail.1688.com/offer/{}.html?spm=a26352.13672862.offerlist.1\n",
                o.offer_id
            ));
        }
    }
    // The well-formed files must import, or they would seed only the refusal paths.
    parse_merchant_skus(&skus).expect("the generated SKU file imports");
    parse_mappings(&mappings).expect("the generated mapping file imports");
    seeds.put("merchant_skus_csv", "catalogue.csv", skus.as_bytes());
    let spreadsheet = format!("\u{feff}{}", skus.replace('\n', "\r\n"));
    seeds.put(
        "merchant_skus_csv",
        "spreadsheet_export.csv",
        spreadsheet.as_bytes(),
    );
    seeds.put(
        "merchant_skus_csv",
        "bad_rows.csv",
        b"sku,gtin,name\nCUP-1,4006381333932,Cup\n,,Nameless\nCUP 3,,Spaced\nCUP-4,12345,Short\nCUP-1,,Again\n\"CUP-5,,\"unclosed\n",
    );
    seeds.put("mappings_csv", "catalogue.csv", mappings.as_bytes());
    let spreadsheet = format!("\u{feff}{}", mappings.replace('\n', "\r\n"));
    seeds.put(
        "mappings_csv",
        "spreadsheet_export.csv",
        spreadsheet.as_bytes(),
    );
    seeds.put(
        "mappings_csv",
        "bad_rows.csv",
        b"1.5,a,X\n-3,a,X\n7,a,X,0\n7,a,X,ten\n7,b,\n8,a,X\n8,a,Y\n9223372036854775808,a,Z\n3,\"x,y\",CUP-3,0.5\n",
    );
    seeds.put("offers_file", "offers.txt", offer_refs.as_bytes());
    seeds.put(
        "offers_file",
        "spreadsheet.csv",
        "\u{feff}offer,note\r\n\"https://detail.m.1688.com/page/index.htm?offerId=624508513236&spm=x\",mobile\r\nm.1688.com/offer/624508513236.html#desc;x\r\nhttps://item.taobao.com/item.htm?id=1\t\r\n-5\r\n"
            .as_bytes(),
    );
}
