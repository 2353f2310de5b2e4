//! A faithful stand-in for the 1688 Open API gateway (1688-open-api.md, "What a
//! faithful simulator must reproduce"), built into the binary: `sync1688 sandbox`
//! serves it, `sync1688 demo` and every end-to-end test run against it.
//!
//! What it serves, under `http://ADDR/openapi/param2/1/{namespace}/{api}/{appKey}`
//! (POST form bodies and GET query strings, merged):
//!
//! | API | notes |
//! | --- | --- |
//! | `system/currentTime` | signed, no token; a bare JSON string `"yyyyMMddHHmmssSSS+0800"` |
//! | `system.oauth2/getToken` | no signature, no token; see *Tokens* below |
//! | `system.oauth2/postponeToken` | no signature; a new refresh token in its last 30 days, else HTTP 400 |
//! | `com.alibaba.trade/alibaba.trade.getBuyerOrderList` | pages, windows, filters |
//! | `com.alibaba.trade/alibaba.trade.get.buyerView` | one order with its parcels |
//! | `com.alibaba.logistics/alibaba.trade.getLogisticsInfos.buyerView` | parcels, or `500_2` |
//! | `com.alibaba.logistics/alibaba.trade.getLogisticsTraceInfo.buyerView` | carrier steps, or `404` |
//! | `com.alibaba.trade/alibaba.trade.receiveAddress.get` | the buyer's addresses; see *Purchasing* |
//! | `com.alibaba.trade/alibaba.createOrder.preview` | `orderPreviewResuslt` (sic), `500_00x` |
//! | `com.alibaba.trade/alibaba.trade.fastCreateOrder` | places an order, `outOrderId` idempotent |
//! | `com.alibaba.trade/alibaba.trade.createCrossOrder` | the same, with `orderList` |
//! | `com.alibaba.trade/alibaba.trade.cancel` | unpaid orders, not in their first 10 s |
//! | `com.alibaba.trade/alibaba.alipay.url.get` | the cashier link for unpaid orders |
//! | `com.alibaba.product/alibaba.product.follow` | follows an offer: `{"code":0,"message":"success"}` |
//! | `com.alibaba.product/alibaba.cross.productInfo` | a followed offer with its SKUs; see *Products* |
//! | `com.alibaba.product/alibaba.product.get` | `gw.APIACLDecline`, as for a real buyer app |
//!
//! A request meets, in this order: `latency`; the path (`gw.AppKeyMissing`,
//! `gw.AppKeyNotFound`, `gw.APIUnsupported`, all HTTP 400); token endpoints are then
//! answered at once; the QPS limit (`gw.QosAppFrequencyLimit`, HTTP 400); for business
//! calls, the next queued [`Fault`] or else the `error_rate` dice (502); the signature
//! (`gw.SignatureMissing`, `gw.SignatureInvalid`, HTTP 400); for business calls, the
//! access token (HTTP 401 `{"error_code":"401","error_message":"Request need user
//! authenticated",…}`); then the API. Gateway errors carry
//! `{error_code, error_message, exception, request_id}`.
//!
//! # Tokens
//!
//! `GET http://ADDR/oauth/authorize?client_id=…&site=1688&redirect_uri=…&state=…`
//! ([`SandboxHandle::authorize_url_base`]) stands in for `auth.1688.com`: the buyer
//! consents at once and the answer is a 302 to `redirect_uri` with `code` and `state`
//! added to its query. An unknown `client_id` or a missing `redirect_uri` gets HTTP 400
//! with a short HTML page. Codes are random, single use (presenting one spends it),
//! live ten minutes ([`SandboxHandle::expire_authorization_codes`] ages them) and are
//! bound to their `redirect_uri`.
//!
//! `getToken` (no signature, no access token) takes `client_id`, `client_secret` and
//! either `grant_type=authorization_code` with `code`, the same `redirect_uri` and
//! `need_refresh_token=true`, or `grant_type=refresh_token` with `refresh_token` (or the
//! PHP SDK's `refreshToken`): the configured one or any the sandbox issued. Success:
//! `{"access_token", "expires_in": "36000" (a string), "refresh_token",
//! "refresh_token_timeout": "yyyyMMddHHmmssSSS+0800", "resource_owner", "memberId":
//! "b2b-…", "aliId"}`; a code exchange issues a new random `refresh_token` (only with
//! `need_refresh_token=true`), a refresh answer has none and its
//! `refresh_token_timeout` is the used token's. Refresh tokens live
//! `refresh_token_ttl_days` (180).
//!
//! `postponeToken` takes `client_id`, `client_secret`, `refresh_token` and a live
//! `access_token`; in the refresh token's last 30 days it answers like a code exchange
//! (a new refresh token half a year ahead; the old one dies), before that HTTP 400
//! `{"error":"invalid_request","error_description":"refresh token has more than 30
//! days left; …"}`. A missing or dead `access_token` there gets the gateway's 401.
//!
//! Errors use the OAuth 2 shape `{"error", "error_description"}`: `invalid_client`
//! (401), `invalid_grant` (400: an unknown, expired, spent or mis-bound code; an
//! unknown, expired, revoked or postponed refresh token), `invalid_request`,
//! `unsupported_grant_type` (400). [`SandboxHandle::revoke_refresh_token`] also kills
//! the access tokens of that authorisation.
//!
//! # The order list
//!
//! `page` is 1-based; `pageSize` defaults to [`DEFAULT_PAGE_SIZE`] and is clamped (not
//! refused) at `max_page_size`; a page past the end has `"result":[]`. Windows
//! (`createStartTime`/`createEndTime`, `modifyStartTime`/`modifyEndTime`) accept any
//! `±hhmm` offset and include both bounds. Newest `createTime` first, ties by id
//! descending. Orders created more than [`HISTORY_AFTER_DAYS`] days ago are listed
//! only with `isHis=true`. `bizTypes` filters on `businessType`, so passing it hides
//! the rarer types (`lst`, `cb`) the sandbox generates. Without
//! `needBuyerAddressAndPhone=true`, `nativeLogistics` has no `address` or `mobile`, as
//! in the doc sample. A malformed parameter is a business error, HTTP 200
//! `{"errorCode":"PARAM_ERROR","errorMessage":"createStartTime: …"}`.
//!
//! # Products
//!
//! Both product APIs take `productId` and, like the order APIs, a signature and an
//! access token (and meet injected faults). `alibaba.product.follow` answers
//! `{"code":0,"message":"success"}` for any offer of the catalogue, whatever its
//! status, and records the follow (following twice is fine); an unknown offer gets
//! `{"code":1,"message":"商品[<id>]不存在"}`, a missing or malformed `productId`
//! `{"code":400,…}`. `alibaba.cross.productInfo` answers, all with HTTP 200:
//! `{"success":false,"message":"商品[<id>]不存在"}` for an unknown offer,
//! `{"success":false,"message":"没有该商品的查询权限"}` for one the app does not follow,
//! else `{"success":true,"productInfo":{…},"bizGroupInfos":[]}`. `productInfo` carries
//! the catalogue the orders use: the same SKUs (`skuId` a number, `specId`, the
//! `颜色`/`尺码` attribute values of the order lines' `skuInfos`, `price`, `cargoNumber`)
//! and the same seller (`supplierLoginId`, `sellerLoginId`, `supplierUserId`). An offer
//! without SKUs has no `skuInfos`; its price is in `saleInfo.priceRanges`.
//! `saleInfo.quoteType` is 0 for those, 2 for SKUs sharing one price (both with 2–3
//! quantity breaks) and 1 for SKUs priced each (one range: the minimum order quantity
//! and the cheapest SKU's price); the first range always starts at `minOrderQuantity`.
//! Money is exact decimal JSON numbers. A few offers are `expired` and one is
//! `deleted` (never one of the first seller's): they still appear in orders.
//!
//! # Purchasing
//!
//! `receiveAddress.get` lists the buyer's addresses ([`SandboxHandle::addresses`]; two
//! at start): `{"result":{"receiveAddressItems":[{"id", "fullName", "address" (street
//! only), "post", "phone", "mobilePhone", "addressCode", "addressCodeText" ("浙江省
//! 金华市 义乌市"), "townCode", "townName", "isDefault": true}, {… no isDefault}]},
//! "success":true}`: the default one says so, the others carry no `isDefault` at all.
//! [`SandboxHandle::set_addresses`] and [`SandboxHandle::clear_addresses`] change them.
//!
//! `createOrder.preview`, `fastCreateOrder` and `createCrossOrder` take `addressParam`
//! (JSON: an `addressId` of the list wins over `districtCode` + `address`, which wins
//! over `provinceText`/`cityText`/`areaText` + `address`; without an `addressId`,
//! `fullName` and `mobile` or `phone` are required) and `cargoParamList` (a JSON array,
//! at most [`MAX_CARGOS`], of `{offerId, specId, quantity}`; ids may be numbers or
//! strings; `specId` absent or `""` for an offer without SKUs), and `flow` (absent or
//! `general`: trade mode `assureTrade`; `fenxiao`: `fxassure`; `saleproxy`: `500_007`).
//! They check, in this order, and name the offending offer or spec: `500_001` an
//! unknown offer or one not `published`, `500_002` offers of several sellers, `500_003`
//! a spec that is not a SKU of its offer (or none for an offer with SKUs), `500_005` an
//! offer's total quantity below its minimum order quantity, `500_004` a quantity above
//! the SKU's stock (stock is not consumed by orders). Cargos of one SKU are merged.
//! Unit prices follow the offer's price ranges for the offer's total quantity (a
//! `quoteType` 1 offer uses each SKU's price); every order pays its seller's fixed
//! shipping fee ([`SandboxHandle::shipping_fee_fen`]); there are no discounts.
//!
//! The preview answers `{"orderPreviewResuslt":[{"status":true, "flowFlag":"general",
//! "sumPayment", "sumCarriage", "sumPaymentNoCarriage", "discountFee":0,
//! "additionalFee":0 (all integer fen), "tradeModeNameList":["assureTrade"],
//! "tradeModelList":[{name, description, tradeType, opSupport}], "cargoList":[{offerId,
//! specId, skuId, amount, finalUnitPrice}] (yuan, as in the doc sample),
//! "shopPromotionList":[]}], "success":true}`, one entry per order the cart would
//! become; refusals are `{"success":false,"errorCode":"500_004","errorMsg":"…"}`, and
//! `errorCode` `400` for parameters (`AddressId invalid: …` for an unknown addressId).
//!
//! The create APIs also take `message` (the order's `buyerMemo`, at most 500
//! characters), `outOrderId` (`baseInfo.outOrderId`) and `tradeType` (only the flow's
//! trade mode, else `not support tradeType:【X】`). They place the order(s) in
//! `waitbuyerpay` at the sandbox's now and answer `{"result":{"totalSuccessAmount",
//! "orderId": "<id as a string>", "postFee", "failedOfferList":[]},"success":true}`
//! (fen); `createCrossOrder` adds `"success":true` and `"orderList":[{"orderId"
//! (string), "orderAmmount" (sic, fen), "postFee", "resultCode":"SUCCESS",
//! "success":true, "message":""}]` to `result`. Refusals are `{"success":false,
//! "code":"500_004"|"400"|…, "message":"…"}`. A cart of more than
//! [`SPLIT_ABOVE_OFFERS`] offers, or the next create with two lines or more after
//! [`SandboxHandle::split_next_create`], becomes two orders (the first half of the
//! offers, or of the lines for a single offer, in the first); the preview shows the
//! first kind of split too. On a split `fastCreateOrder`, which has no `orderList`,
//! answers the first order's id in `orderId` and the totals of all of them in
//! `totalSuccessAmount` and `postFee`; `getBuyerOrderList` with the `outOrderId` lists
//! every one. A create with an `outOrderId` the app used before places nothing and
//! answers for the order(s) placed then, whatever the other parameters.
//! [`Fault::Delay`] on a create or cancel waits *after* the work: the client times out,
//! the order exists.
//!
//! `alibaba.trade.cancel` (`webSite=1688`, `tradeID`, `cancelReason` `buyerCancel` |
//! `sellerGoodsLack` | `other`, `remark`) answers `{"success":true}` and the order
//! becomes `cancel` with that `closeReason` and `closeRemark`, its `modifyTime` now;
//! else `{"success":false,"errorCode","errorMessage"}` with `ORDER_NOT_EXIST`,
//! `ORDER_STATUS_ERROR` (not `waitbuyerpay`), `CLOSE_ORDER_TOO_FAST` (created less than
//! [`CANCEL_NOT_BEFORE`] ago on the sandbox clock; [`SandboxHandle::age_order`] ages an
//! order) or `400`. `alibaba.alipay.url.get` takes `orderIdList` (a JSON array of up to
//! [`MAX_PAY_ORDERS`] unpaid orders) and answers `{"payUrl":"https://trade.1688.com/
//! order/cashier.htm?orderId=ID,ID","success":true}`, else `{"success":false,
//! "errorCode","erroMsg"}` (sic).
//!
//! # Logistics
//!
//! Parcels come from generated shipments and [`OrderChange::Ship`] (one parcel per
//! call, so a partial shipment and the rest make two). `getLogisticsInfos.buyerView`
//! answers `{"result":[{"logisticsId", "logisticsBillNo", "logisticsCompanyName"
//! ("中通快递(ZTO)"), "status" (`TRANSPORT`, `SIGN` once received), "orderEntryIds"
//! ("subItemID,subItemID" of the lines in the parcel), …}],"success":true}`, and before
//! any shipment HTTP 200 `{"success":false,"errorCode":"500_2",…}`. `get.buyerView`
//! has the same parcels in `nativeLogistics.logisticsItems[]` (`logisticsBillNo`,
//! `logisticsCompanyName`, `subItemIds`). `getLogisticsTraceInfo.buyerView` (`orderId`,
//! `webSite`, optional `logisticsId`) answers `{"logisticsTrace":[{"logisticsId",
//! "orderId", "logisticsBillNo", "logisticsSteps":[{"acceptTime":"yyyy-MM-dd
//! HH:mm:ss", "remark"}]}],"success":true}`: steps 0, 2, 10, 14, 30 and 40 hours after
//! the parcel was sent, those up to the sandbox's now, and the signature once received;
//! no parcel: `{"success":false,"errorCode":"404",…}`.

mod apis;
mod auth;
mod catalogue;
mod faults;
mod order_book;
mod orders;
mod params;
mod products;
mod purchasing;
mod render;
mod rng;
mod server;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use chrono::{DateTime, SubsecRound, Utc};
use rust_decimal::Decimal;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use apis::{DEFAULT_PAGE_SIZE, HISTORY_AFTER_DAYS};
pub use faults::Fault;
pub use orders::{NewLine, NewOrder, OrderChange, Shipment};
pub use purchasing::{
    CANCEL_NOT_BEFORE, MAX_CARGOS, MAX_PAY_ORDERS, SPLIT_ABOVE_OFFERS, SandboxAddress,
};

use orders::{Ids, Spec};
use rng::SplitMix64;
use server::{Shared, World};

/// How the sandbox behaves. Secrets are redacted from `Debug`.
#[derive(Clone)]
pub struct SandboxConfig {
    /// The app key: the last path segment of every call and the OAuth `client_id`.
    pub app_key: String,
    /// The app secret: signs requests and is the OAuth `client_secret`.
    pub app_secret: String,
    /// A refresh token the sandbox holds from the start, as if the buyer had already
    /// authorised the app; it expires `refresh_token_ttl_days` after the clock's start.
    /// Code exchanges and `postponeToken` issue others.
    pub refresh_token: String,
    /// How many orders to generate.
    pub orders: usize,
    /// The mean number of lines of a generated order, drawn uniformly from
    /// `1..=2n-1` (capped by the seller's SKUs); `None` keeps the skewed mix of real
    /// orders (mostly one or two lines, 2.8 on average). Benchmarks ask for 5.
    pub lines_per_order: Option<u32>,
    /// Generated orders are created during this many days before `now` (at least 1).
    pub days: u32,
    /// Seeds every generated value: the same seed and `now` give the same data.
    pub seed: u64,
    /// The generation anchor and the start of the sandbox's clock; by default the real
    /// time at start. The clock then moves with real time.
    pub now: Option<DateTime<Utc>>,
    /// Share (0–1) of business calls answered with a proxy's 502 HTML page, drawn from
    /// a PRNG seeded by `seed`.
    pub error_rate: f64,
    /// Added to every call, token calls included.
    pub latency: Duration,
    /// Requests per second for the app key, with bursts of the same size; token calls
    /// are exempt. `None` (or 0) means no limit.
    pub rate_limit_qps: Option<u32>,
    /// The `pageSize` cap of the order list (1688 does not document one; clients use 50).
    pub max_page_size: u32,
    /// Lifetime of an access token, seconds (1688: 36000, ten hours).
    pub access_token_ttl_secs: u64,
    /// Lifetime of a refresh token, days (1688: about half a year, X4 "约半年").
    pub refresh_token_ttl_days: u32,
    /// Render every order as the order list shows it before serving, as a warm 1688
    /// would have: benchmarks measure the client, not the sandbox's first rendering.
    pub prerender: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            app_key: "1234567".into(),
            app_secret: "sandbox-secret".into(),
            refresh_token: "sandbox-refresh-token".into(),
            orders: 200,
            lines_per_order: None,
            days: 3,
            seed: 1688,
            now: None,
            error_rate: 0.0,
            latency: Duration::ZERO,
            rate_limit_qps: None,
            max_page_size: 50,
            access_token_ttl_secs: 36_000,
            refresh_token_ttl_days: 180,
            prerender: false,
        }
    }
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("app_key", &self.app_key)
            .field("app_secret", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("orders", &self.orders)
            .field("lines_per_order", &self.lines_per_order)
            .field("days", &self.days)
            .field("seed", &self.seed)
            .field("now", &self.now)
            .field("error_rate", &self.error_rate)
            .field("latency", &self.latency)
            .field("rate_limit_qps", &self.rate_limit_qps)
            .field("max_page_size", &self.max_page_size)
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_days", &self.refresh_token_ttl_days)
            .field("prerender", &self.prerender)
            .finish()
    }
}

/// One orderable SKU of the sandbox's catalogue (one row per spec; one row with an
/// empty `spec_id` for an offer without SKUs).
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxOffer {
    /// `productID` in order lines.
    pub offer_id: i64,
    /// 32 hex digits, or `""` for an offer without SKUs.
    pub spec_id: String,
    /// `skuID`; `None` for an offer without SKUs.
    pub sku_id: Option<i64>,
    /// The offer's Chinese title (`name` in order lines).
    pub title: String,
    /// The SKU attributes as `name:value` pairs joined by `; ` (`颜色:黑色; 尺码:XL`).
    pub attributes: String,
    /// `unit` in order lines (`件`, `个`, `包`, …).
    pub unit: String,
    /// Yuan.
    pub unit_price: Decimal,
    pub seller_login_id: String,
    /// `b2b-…`
    pub seller_member_id: String,
    pub seller_company: String,
    /// `cargoNumber` of the order lines and of `productInfo.skuInfos`.
    pub cargo_number: String,
    /// `amountOnSale` of this SKU.
    pub stock: i64,
    /// The offer's `saleInfo.minOrderQuantity`.
    pub min_order_quantity: u32,
    /// The offer's `saleInfo.priceRanges`: (startQuantity, price in yuan), ascending,
    /// the first at `min_order_quantity`.
    pub price_ranges: Vec<(u32, Decimal)>,
    /// The offer's current status: `published`, `expired`, `deleted`, …
    pub status: String,
}

/// A running sandbox. Dropping it stops the server; [`SandboxHandle::shutdown`] stops
/// it gracefully.
pub struct SandboxHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Generates the data, binds `listen` (port 0 picks a free port) and serves in the
/// background. The socket is bound when this returns.
pub async fn start(config: SandboxConfig, listen: SocketAddr) -> std::io::Result<SandboxHandle> {
    let anchor = config.now.unwrap_or_else(Utc::now).trunc_subsecs(3);
    let mut rng = SplitMix64::stream(config.seed, "catalogue");
    let mut catalogue = catalogue::generate(&mut rng);
    // Its own stream: the product-side facts never shift the orders of a seed.
    catalogue::add_listings(
        &mut catalogue,
        anchor.trunc_subsecs(0),
        &mut SplitMix64::stream(config.seed, "listings"),
    );
    let mut rng = SplitMix64::stream(config.seed, "orders");
    let mut ids = Ids::new(&mut rng);
    // Real order times have whole seconds.
    let generated = orders::generate(
        config.orders,
        config.lines_per_order,
        config.days,
        anchor.trunc_subsecs(0),
        &catalogue,
        &mut ids,
        &mut rng,
    );
    let limiter = config
        .rate_limit_qps
        .and_then(NonZeroU32::new)
        .map(|qps| governor::RateLimiter::direct(governor::Quota::per_second(qps)));
    let state = World {
        orders: generated.into_iter().map(|o| (o.id, o)).collect(),
        ids,
        insert_rng: SplitMix64::stream(config.seed, "inserted"),
        fault_rng: SplitMix64::stream(config.seed, "faults"),
        tokens: auth::Tokens::new(
            &config.refresh_token,
            auth::configured_refresh_expiry(&config, anchor),
        ),
        calls: BTreeMap::new(),
        faults: VecDeque::new(),
        request_seq: 0,
        followed: BTreeSet::new(),
        offer_status: HashMap::new(),
        addresses: purchasing::default_addresses(),
        out_orders: HashMap::new(),
        split_next_create: false,
        created_rng: SplitMix64::stream(config.seed, "created"),
    };
    let shared = Arc::new(Shared {
        config,
        catalogue,
        anchor,
        started: Instant::now(),
        limiter,
        rate_limited: Default::default(),
        state: Mutex::new(state),
    });
    if shared.config.prerender {
        let shared = shared.clone();
        tokio::task::spawn_blocking(move || apis::prerender_order_list(&shared))
            .await
            .map_err(std::io::Error::other)?;
    }

    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/oauth/authorize", get(auth::authorize))
        .fallback(server::gateway)
        .with_state(shared.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::warn!(error = %e, "sandbox server stopped");
        }
    });
    tracing::debug!(%addr, "sandbox started");
    Ok(SandboxHandle {
        shared,
        addr,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Serves until Ctrl-C (or SIGTERM), for `sync1688 sandbox`. Prints
/// `sandbox listening on http://ADDR/openapi (app_key …)` once ready; never the secret.
pub async fn serve_forever(config: SandboxConfig, listen: SocketAddr) -> std::io::Result<()> {
    let handle = start(config, listen).await?;
    println!(
        "sandbox listening on {} (app_key {})",
        handle.base_url(),
        handle.config().app_key
    );
    crate::shutdown::signal().await;
    handle.shutdown().await;
    Ok(())
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT/openapi`: what a client uses as `api_base`.
    pub fn base_url(&self) -> String {
        format!("http://{}/openapi", self.addr)
    }

    /// `http://127.0.0.1:PORT/oauth/authorize`: the sandbox's stand-in for
    /// `https://auth.1688.com/oauth/authorize`.
    pub fn authorize_url_base(&self) -> String {
        format!("http://{}/oauth/authorize", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The sandbox's clock: `config.now` (or the start time) plus the time since start.
    pub fn now(&self) -> DateTime<Utc> {
        self.shared.now()
    }

    /// The catalogue, one row per SKU, in a stable order.
    pub fn offers(&self) -> Vec<SandboxOffer> {
        let c = &self.shared.catalogue;
        let state = self.shared.lock();
        c.offers
            .iter()
            .flat_map(|offer| offer.skus.iter().copied())
            .map(|sku| {
                let offer = c.offer_of(sku);
                let seller = c.seller_of(sku);
                let (status, _) = products::status_of(&state, offer);
                SandboxOffer {
                    offer_id: offer.offer_id,
                    spec_id: c.skus[sku].spec_id.clone().unwrap_or_default(),
                    sku_id: c.skus[sku].sku_id,
                    title: offer.title.clone(),
                    attributes: c.attributes_text(sku),
                    unit: offer.unit.to_owned(),
                    unit_price: c.skus[sku].price,
                    seller_login_id: seller.login_id.clone(),
                    seller_member_id: seller.member_id.clone(),
                    seller_company: seller.company.clone(),
                    cargo_number: c.skus[sku].cargo_number.clone(),
                    stock: c.skus[sku].stock,
                    min_order_quantity: offer.listing.min_order_quantity,
                    price_ranges: offer.listing.price_ranges.clone(),
                    status: status.to_owned(),
                }
            })
            .collect()
    }

    /// How many lines of the orders use each SKU, in the order of
    /// [`SandboxHandle::offers`].
    pub fn lines_per_sku(&self) -> Vec<usize> {
        let c = &self.shared.catalogue;
        let state = self.shared.lock();
        let mut per_sku = vec![0; c.skus.len()];
        for order in state.orders.values() {
            for line in &order.lines {
                per_sku[line.sku] += 1;
            }
        }
        c.offers
            .iter()
            .flat_map(|offer| offer.skus.iter().map(|&sku| per_sku[sku]))
            .collect()
    }

    /// Every offer id of the catalogue (`productId` of the product APIs), in the order
    /// of [`SandboxHandle::offers`].
    pub fn product_ids(&self) -> Vec<i64> {
        self.shared
            .catalogue
            .offers
            .iter()
            .map(|o| o.offer_id)
            .collect()
    }

    /// Sets an offer's status as its seller would (`published`, `expired`, `deleted`,
    /// or another value 1688 documents: `member expired`, `auto expired`, `member
    /// deleted`, `auditing`, `untread`, `TBD`) and moves its `lastUpdateTime` to now.
    ///
    /// # Panics
    /// On an unknown offer id or status: test mistakes.
    pub fn set_offer_status(&self, offer_id: i64, status: &str) {
        let c = &self.shared.catalogue;
        assert!(
            c.offer_index(offer_id).is_some(),
            "the sandbox has no offer {offer_id}"
        );
        assert!(
            catalogue::OFFER_STATUSES.contains(&status),
            "`{status}` is not a 1688 offer status (one of {:?})",
            catalogue::OFFER_STATUSES
        );
        let now = self.shared.now();
        self.shared
            .lock()
            .offer_status
            .insert(offer_id, (status.to_owned(), now));
    }

    /// Whether the app follows the offer (`alibaba.product.follow` succeeded for it).
    pub fn is_followed(&self, offer_id: i64) -> bool {
        self.shared.lock().followed.contains(&offer_id)
    }

    /// Every order id, in list order (newest `createTime` first, ties by id descending).
    pub fn order_ids(&self) -> Vec<i64> {
        let state = self.shared.lock();
        let mut orders: Vec<_> = state.orders.values().map(|o| (o.created, o.id)).collect();
        orders.sort_unstable_by(|a, b| b.cmp(a));
        orders.into_iter().map(|(_, id)| id).collect()
    }

    /// Adds an order and returns its 1688 id.
    ///
    /// # Panics
    /// On an unknown offer/spec, lines from two sellers, or a taken order id: test
    /// mistakes, not sandbox states.
    pub fn insert_order(&self, spec: NewOrder) -> i64 {
        let c = &self.shared.catalogue;
        let now = self.shared.now();
        let lines = if spec.lines.is_empty() {
            default_lines(c, spec.line_count.unwrap_or(1))
        } else {
            spec.lines
                .iter()
                .map(|l| {
                    let sku = c.find(l.offer_id, &l.spec_id).unwrap_or_else(|| {
                        panic!(
                            "the sandbox has no offer {} with spec `{}`",
                            l.offer_id, l.spec_id
                        )
                    });
                    (sku, l.quantity, l.price)
                })
                .collect()
        };
        let created = spec.create_time.unwrap_or(now);
        let spec = Spec {
            id: spec.order_id,
            created,
            modified: spec.modify_time,
            status: spec.status.unwrap_or_else(|| "waitbuyerpay".into()),
            lines,
            entry_discounts: false,
            shipping_fee: spec.shipping_fee.unwrap_or(Decimal::ZERO),
            discount_fen: spec.discount_fen.unwrap_or(0),
            business_type: spec.business_type.unwrap_or_else(|| "cn".into()),
            refund_status: spec.refund_status,
            memo: None,
            id_of_str_as_number: false,
            address: 0,
            partial_shipment: false,
            lively: false,
            offset: spec.offset.unwrap_or_else(crate::api1688::time::china),
        };
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let order = orders::materialise(spec, c, &mut state.ids, &mut state.insert_rng, now);
        let id = order.id;
        state.orders.insert(id, order);
        id
    }

    /// Changes an order as 1688 would and moves its `modifyTime` to now.
    ///
    /// # Panics
    /// On an unknown order id or line index.
    pub fn modify_order(&self, order_id: i64, change: OrderChange) {
        let now = self.shared.now();
        let mut guard = self.shared.lock();
        let state = &mut *guard;
        let order = state
            .orders
            .get_mut(&order_id)
            .unwrap_or_else(|| panic!("the sandbox has no order {order_id}"));
        orders::apply(order, change, &mut state.insert_rng, now);
    }

    /// The buyer's receiving addresses, as `receiveAddress.get` lists them.
    pub fn addresses(&self) -> Vec<SandboxAddress> {
        self.shared.lock().addresses.clone()
    }

    /// Replaces the buyer's receiving addresses (an `addressId` no longer listed is
    /// then refused); orders already placed keep theirs.
    pub fn set_addresses(&self, addresses: Vec<SandboxAddress>) {
        self.shared.lock().addresses = addresses;
    }

    /// The buyer has no receiving address at all: `receiveAddressItems` is empty.
    pub fn clear_addresses(&self) {
        self.set_addresses(Vec::new());
    }

    /// The next `fastCreateOrder` / `createCrossOrder` that places an order of two
    /// lines or more splits it in two, whatever its number of offers.
    pub fn split_next_create(&self) {
        self.shared.lock().split_next_create = true;
    }

    /// The orders placed with this `outOrderId` (more than one after a split), in
    /// creation order; empty if none was.
    pub fn orders_by_out_order_id(&self, out_order_id: &str) -> Vec<i64> {
        let state = self.shared.lock();
        state
            .out_orders
            .get(&(self.shared.config.app_key.clone(), out_order_id.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// The shipping fee, in fen, each order of this seller (`sellerLoginId`) pays.
    ///
    /// # Panics
    /// On an unknown seller.
    pub fn shipping_fee_fen(&self, seller_login_id: &str) -> i64 {
        let c = &self.shared.catalogue;
        let seller = c
            .sellers
            .iter()
            .position(|s| s.login_id == seller_login_id)
            .unwrap_or_else(|| panic!("the sandbox has no seller `{seller_login_id}`"));
        purchasing::post_fee_fen(c, seller)
    }

    /// Moves every time of an order `by` into the past (creation, modification,
    /// payment, shipments), as if all of it had happened that much earlier: e.g. past
    /// the ten seconds before which `alibaba.trade.cancel` refuses.
    ///
    /// # Panics
    /// On an unknown order id.
    pub fn age_order(&self, order_id: i64, by: Duration) {
        let by = chrono::Duration::from_std(by).expect("a duration chrono can hold");
        self.shared
            .lock()
            .orders
            .get_mut(&order_id)
            .unwrap_or_else(|| panic!("the sandbox has no order {order_id}"))
            .age(by);
    }

    /// Queues one-shot faults for the next business calls, in order.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().faults.extend(faults);
    }

    /// Every access token issued so far now answers HTTP 401; refreshing gets a new one.
    pub fn expire_access_tokens(&self) {
        self.shared.lock().tokens.expire_all();
    }

    /// Every access token issued so far, expired ones included (tests check that none
    /// appears in logs).
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.lock().tokens.issued()
    }

    /// A single-use authorization code for `grant_type=authorization_code`, as the
    /// OAuth redirect would deliver it, but bound to no `redirect_uri` (any or none
    /// exchanges it). It expires ten minutes after issue like the others.
    pub fn issue_authorization_code(&self) -> String {
        let now = self.shared.now();
        self.shared.lock().tokens.issue_code(now, None)
    }

    /// Every authorization code issued so far is now past its ten minutes.
    pub fn expire_authorization_codes(&self) {
        let now = self.shared.now();
        self.shared.lock().tokens.expire_codes(now);
    }

    /// Every refresh token the sandbox issued (code exchanges and `postponeToken`), in
    /// issue order, dead ones included; not the configured one. For tests that check
    /// none leaks into logs or that read the one a client received.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.shared.lock().tokens.issued_refresh()
    }

    /// Moves a refresh token's expiry (on the sandbox clock, [`SandboxHandle::now`]):
    /// into the last 30 days so that `postponeToken` accepts it, or into the past so
    /// that it is refused as expired. Works for the configured token too.
    ///
    /// # Panics
    /// If the sandbox never knew the token: a test mistake.
    pub fn set_refresh_token_expiry(&self, refresh_token: &str, at: DateTime<Utc>) {
        assert!(
            self.shared
                .lock()
                .tokens
                .set_refresh_expiry(refresh_token, at),
            "the sandbox never issued that refresh token"
        );
    }

    /// Revokes a refresh token, as if the buyer withdrew the app's authorisation:
    /// `getToken` and `postponeToken` then answer `invalid_grant` for it, and every
    /// access token of the same authorisation answers HTTP 401.
    ///
    /// # Panics
    /// If the sandbox never knew the token: a test mistake.
    pub fn revoke_refresh_token(&self, refresh_token: &str) {
        assert!(
            self.shared.lock().tokens.revoke_refresh(refresh_token),
            "the sandbox never issued that refresh token"
        );
    }

    /// When a refresh token expires (dead ones included), or `None` if the sandbox
    /// never knew it.
    pub fn refresh_token_expiry(&self, refresh_token: &str) -> Option<DateTime<Utc>> {
        self.shared.lock().tokens.refresh_expiry(refresh_token)
    }

    /// How many requests named `api` (e.g. `alibaba.trade.getBuyerOrderList`, or
    /// `namespace/api` such as `system.oauth2/postponeToken`), whatever their outcome.
    /// The authorize page counts as `oauth/authorize`.
    pub fn calls(&self, api: &str) -> usize {
        server::calls(&self.shared.lock(), api)
    }

    /// Every call so far, of any API, whatever its outcome.
    pub fn total_calls(&self) -> usize {
        self.shared.lock().calls.values().sum()
    }

    /// How many calls the rate limit (`rate_limit_qps`) refused.
    pub fn rate_limited_calls(&self) -> usize {
        self.shared
            .rate_limited
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Stops accepting requests, lets running ones finish for up to two seconds, then
    /// stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut task)
                .await
                .is_err()
        {
            task.abort();
        }
    }
}

/// `n` SKUs of the first seller that has that many, quantities 1, 2, 3, …
fn default_lines(c: &catalogue::Catalogue, n: usize) -> Vec<(usize, u32, Option<Decimal>)> {
    let n = n.max(1);
    (0..c.sellers.len())
        .map(|seller| {
            c.offers
                .iter()
                .filter(|o| o.seller == seller)
                .flat_map(|o| o.skus.iter().copied())
                .collect::<Vec<_>>()
        })
        .find(|skus| skus.len() >= n)
        .unwrap_or_else(|| panic!("no sandbox seller has {n} SKUs"))
        .into_iter()
        .take(n)
        .zip(1u32..)
        .map(|(sku, quantity)| (sku, quantity, None))
        .collect()
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
