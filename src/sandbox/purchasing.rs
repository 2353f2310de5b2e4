//! Placing orders as the buyer (1688-open-api.md §7): receiving addresses, the preview,
//! the two create APIs, cancelling and the payment link. Orders placed here join the
//! generated ones: they are listed, shown, paid, shipped and cancelled like any other.
//!
//! Business errors come with HTTP 200 in each family's own keys (§8): the preview
//! `{"success":false,"errorCode","errorMsg"}`, the create APIs `{"success":false,
//! "code","message"}`, cancel `{"success":false,"errorCode","errorMessage"}` and the
//! payment link `{"success":false,"errorCode","erroMsg"}` (sic).

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value, json};

use super::catalogue::{Catalogue, QuoteType};
use super::orders::{self, ADDRESSES, OrderChange, ShipTo, Spec};
use super::params::Params;
use super::products;
use super::render::money;
use super::server::{Shared, World};
use crate::api1688::time::china;

/// Carts holding more different offers than this are placed as two orders (1688
/// splits orders by its own rules; this is the sandbox's).
pub const SPLIT_ABOVE_OFFERS: usize = 3;
/// Cargo lines one preview or create call accepts (D6: 50 SKUs per call).
pub const MAX_CARGOS: usize = 50;
/// An order younger than this cannot be cancelled: `CLOSE_ORDER_TOO_FAST` (§7).
pub const CANCEL_NOT_BEFORE: Duration = Duration::from_secs(10);
/// Order ids one `alibaba.alipay.url.get` call accepts.
pub const MAX_PAY_ORDERS: usize = 30;
/// Longest `message` to the seller (S3: 500 characters).
const MAX_MESSAGE_CHARS: usize = 500;
/// Longest street address (S3: 200 characters).
const MAX_STREET_CHARS: usize = 200;

/// One of the buyer's receiving addresses, as `alibaba.trade.receiveAddress.get` lists
/// it. `addressCodeText` is `"{province} {city} {area}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxAddress {
    /// `id`: the `addressId` of `addressParam`.
    pub id: i64,
    /// `fullName`: the receiver.
    pub full_name: String,
    /// `address`: the street part only.
    pub address: String,
    /// `post`.
    pub post: String,
    /// `phone` (a landline; may be empty).
    pub phone: String,
    /// `mobilePhone`.
    pub mobile_phone: String,
    /// `addressCode`: the district's division code, e.g. `330782`.
    pub address_code: String,
    pub province: String,
    pub city: String,
    pub area: String,
    /// `townCode`, `townName`.
    pub town_code: String,
    pub town_name: String,
    /// Written as `"isDefault": true`; a non-default address has no `isDefault` at all,
    /// as in the doc sample.
    pub is_default: bool,
}

impl SandboxAddress {
    fn ship_to(&self) -> ShipTo {
        ShipTo {
            province: self.province.clone(),
            city: self.city.clone(),
            area: self.area.clone(),
            area_code: self.address_code.clone(),
            town: self.town_name.clone(),
            address: self.address.clone(),
            contact: self.full_name.clone(),
            mobile: if self.mobile_phone.is_empty() {
                self.phone.clone()
            } else {
                self.mobile_phone.clone()
            },
            zip: self.post.clone(),
        }
    }
}

/// The buyer's two addresses at start: the Yiwu warehouse (the default) and the
/// Shenzhen one, the first two addresses generated orders go to.
pub(crate) fn default_addresses() -> Vec<SandboxAddress> {
    let [a, b] = [&ADDRESSES[0], &ADDRESSES[1]];
    vec![
        SandboxAddress {
            id: 3_228_741_052,
            full_name: a.contact.into(),
            address: a.address.into(),
            post: a.zip.into(),
            phone: "0579-85123456".into(),
            mobile_phone: a.mobile.into(),
            address_code: a.area_code.into(),
            province: a.province.into(),
            city: a.city.into(),
            area: a.area.into(),
            town_code: "330782001".into(),
            town_name: a.town.into(),
            is_default: true,
        },
        SandboxAddress {
            id: 3_228_741_053,
            full_name: b.contact.into(),
            address: b.address.into(),
            post: b.zip.into(),
            phone: String::new(),
            mobile_phone: b.mobile.into(),
            address_code: b.area_code.into(),
            province: b.province.into(),
            city: b.city.into(),
            area: b.area.into(),
            town_code: "440306013".into(),
            town_name: b.town.into(),
            is_default: false,
        },
    ]
}

/// `alibaba.trade.receiveAddress.get`: `{"result":{"receiveAddressItems":[…]},
/// "success":true}`; an empty list when the buyer has none.
pub(crate) fn receive_addresses(shared: &Shared) -> Value {
    let state = shared.lock();
    let items: Vec<Value> = state
        .addresses
        .iter()
        .map(|a| {
            let mut item = Map::new();
            item.insert("id".into(), json!(a.id));
            item.insert("fullName".into(), json!(a.full_name));
            item.insert("address".into(), json!(a.address));
            item.insert("post".into(), json!(a.post));
            item.insert("phone".into(), json!(a.phone));
            item.insert("mobilePhone".into(), json!(a.mobile_phone));
            item.insert("addressCode".into(), json!(a.address_code));
            item.insert(
                "addressCodeText".into(),
                json!(format!("{} {} {}", a.province, a.city, a.area)),
            );
            item.insert("townCode".into(), json!(a.town_code));
            item.insert("townName".into(), json!(a.town_name));
            if a.is_default {
                item.insert("isDefault".into(), json!(true));
            }
            Value::Object(item)
        })
        .collect();
    json!({"result": {"receiveAddressItems": items}, "success": true})
}

/// A refusal, written in the keys of the API that refuses.
#[derive(Debug)]
struct Refusal {
    code: String,
    message: String,
}

fn refusal(code: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        code: code.to_owned(),
        message: message.into(),
    }
}

fn bad_param(message: impl Into<String>) -> Refusal {
    refusal("400", message)
}

/// The trade flow of a preview or create call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    General,
    Fenxiao,
}

impl Flow {
    fn parse(p: &Params) -> Result<Flow, Refusal> {
        match p.get("flow") {
            // Empty: the gateway picks the best flow, which for the sandbox is general.
            None | Some("general") => Ok(Flow::General),
            Some("fenxiao") => Ok(Flow::Fenxiao),
            Some("saleproxy") => Err(refusal(
                "500_007",
                "flow saleproxy: 买家与卖家之间没有代销关系 (no distribution relation)",
            )),
            Some(other) => Err(bad_param(format!(
                "flow: `{other}` is not supported (general, fenxiao)"
            ))),
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Flow::General => "general",
            Flow::Fenxiao => "fenxiao",
        }
    }

    /// The only `tradeType` the flow offers (`tradeModeNameList`).
    fn trade_mode(self) -> &'static str {
        match self {
            Flow::General => "assureTrade",
            Flow::Fenxiao => "fxassure",
        }
    }
}

/// One `cargoParamList` entry.
#[derive(Debug)]
struct Cargo {
    offer_id: i64,
    spec_id: String,
    quantity: u32,
}

/// A line as it will be ordered: SKU, quantity and unit price in yuan.
#[derive(Debug, Clone)]
struct Priced {
    sku: usize,
    quantity: u32,
    unit_price: Decimal,
}

/// An integer from a JSON number or numeric string.
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn json_param(p: &Params, key: &str) -> Result<Value, Refusal> {
    let raw = p
        .get(key)
        .ok_or_else(|| bad_param(format!("{key}: required")))?;
    serde_json::from_str(raw).map_err(|e| bad_param(format!("{key}: not JSON ({e})")))
}

fn cargos(p: &Params) -> Result<Vec<Cargo>, Refusal> {
    let list = json_param(p, "cargoParamList")?;
    let items = list
        .as_array()
        .ok_or_else(|| bad_param("cargoParamList: not a JSON array"))?;
    if items.is_empty() {
        return Err(bad_param("cargoParamList: empty"));
    }
    if items.len() > MAX_CARGOS {
        return Err(bad_param(format!(
            "cargoParamList: at most {MAX_CARGOS} cargos per order, got {}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = |field: &str| format!("cargoParamList[{i}].{field}");
            let obj = item
                .as_object()
                .ok_or_else(|| bad_param(format!("cargoParamList[{i}]: not an object")))?;
            let offer_id = obj
                .get("offerId")
                .and_then(integer)
                .filter(|id| *id > 0)
                .ok_or_else(|| bad_param(format!("{}: required, an offer id", at("offerId"))))?;
            let spec_id = match obj.get("specId") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.trim().to_owned(),
                Some(other) => {
                    return Err(bad_param(format!(
                        "{}: `{other}` is not a spec id",
                        at("specId")
                    )));
                }
            };
            let quantity = obj
                .get("quantity")
                .and_then(integer)
                .filter(|q| *q >= 1)
                .and_then(|q| u32::try_from(q).ok())
                .ok_or_else(|| {
                    bad_param(format!(
                        "{}: `{}` is not a positive whole quantity",
                        at("quantity"),
                        obj.get("quantity").unwrap_or(&Value::Null)
                    ))
                })?;
            Ok(Cargo {
                offer_id,
                spec_id,
                quantity,
            })
        })
        .collect()
}

/// The address of `addressParam`: an `addressId` wins over `districtCode` with
/// `address`, which wins over the province/city/area texts (D6).
fn ship_to(state: &World, p: &Params) -> Result<ShipTo, Refusal> {
    let param = json_param(p, "addressParam")?;
    let obj = param
        .as_object()
        .ok_or_else(|| bad_param("addressParam: not a JSON object"))?;
    if let Some(raw) = obj.get("addressId").filter(|v| !v.is_null()) {
        let id = integer(raw);
        return state
            .addresses
            .iter()
            .find(|a| Some(a.id) == id)
            .map(SandboxAddress::ship_to)
            .ok_or_else(|| {
                bad_param(format!(
                    "AddressId invalid: addressId {raw} is not one of the buyer's receiving addresses"
                ))
            });
    }
    let street = text(obj, "address");
    if street.is_some_and(|s| s.chars().count() > MAX_STREET_CHARS) {
        return Err(bad_param(format!(
            "addressParam.address: longer than {MAX_STREET_CHARS} characters"
        )));
    }
    let district = text(obj, "districtCode");
    let (province, city, area, area_code) = match (district, street) {
        (Some(code), Some(_)) => {
            let known = ADDRESSES
                .iter()
                .map(|a| (a.province, a.city, a.area, a.area_code))
                .chain(state.addresses.iter().map(|a| {
                    (
                        a.province.as_str(),
                        a.city.as_str(),
                        a.area.as_str(),
                        a.address_code.as_str(),
                    )
                }))
                .find(|a| a.3 == code);
            match known {
                Some((p, c, a, _)) => (p.to_owned(), c.to_owned(), a.to_owned(), code.to_owned()),
                None => (
                    text(obj, "provinceText").unwrap_or_default().to_owned(),
                    text(obj, "cityText").unwrap_or_default().to_owned(),
                    text(obj, "areaText").unwrap_or_default().to_owned(),
                    code.to_owned(),
                ),
            }
        }
        _ => match (text(obj, "provinceText"), text(obj, "cityText"), street) {
            (Some(p), Some(c), Some(_)) => (
                p.to_owned(),
                c.to_owned(),
                text(obj, "areaText").unwrap_or_default().to_owned(),
                String::new(),
            ),
            _ => {
                return Err(bad_param(
                    "addressParam: give addressId, or districtCode with address, or \
                     provinceText, cityText and address",
                ));
            }
        },
    };
    let contact = text(obj, "fullName")
        .ok_or_else(|| bad_param("addressParam.fullName: required without addressId"))?;
    let mobile = text(obj, "mobile")
        .or_else(|| text(obj, "phone"))
        .ok_or_else(|| bad_param("addressParam.mobile: required without addressId"))?;
    Ok(ShipTo {
        province,
        city,
        area,
        area_code,
        town: text(obj, "townText").unwrap_or_default().to_owned(),
        address: street.unwrap_or_default().to_owned(),
        contact: contact.to_owned(),
        mobile: mobile.to_owned(),
        zip: text(obj, "postCode").unwrap_or_default().to_owned(),
    })
}

/// Checks the cargos as 1688's preview does and prices them. In this order:
/// `500_001` an unknown or no longer published offer, `500_002` offers of several
/// sellers, `500_003` a spec that is not a SKU of its offer (or none for an offer with
/// SKUs), `500_005` an offer's total below its minimum order quantity, `500_004` a
/// SKU's quantity above its stock. Cargos of the same SKU are merged.
fn price(state: &World, c: &Catalogue, cargos: &[Cargo]) -> Result<Vec<Priced>, Refusal> {
    let mut offers = Vec::with_capacity(cargos.len());
    for cargo in cargos {
        let Some(index) = c.offer_index(cargo.offer_id) else {
            return Err(refusal(
                "500_001",
                format!("商品[{}]不存在，不支持在线交易", cargo.offer_id),
            ));
        };
        let (status, _) = products::status_of(state, &c.offers[index]);
        if status != "published" {
            return Err(refusal(
                "500_001",
                format!("商品[{}]当前状态为{status}，不支持在线交易", cargo.offer_id),
            ));
        }
        offers.push(index);
    }
    let sellers: BTreeSet<usize> = offers.iter().map(|&o| c.offers[o].seller).collect();
    if sellers.len() > 1 {
        let first = c.offers[offers[0]].seller;
        let other = offers
            .iter()
            .copied()
            .find(|&o| c.offers[o].seller != first)
            .expect("two sellers");
        return Err(refusal(
            "500_002",
            format!(
                "商品[{}]与商品[{}]不属于同一个卖家（{}、{}），请分开下单",
                c.offers[offers[0]].offer_id,
                c.offers[other].offer_id,
                c.sellers[first].login_id,
                c.sellers[c.offers[other].seller].login_id
            ),
        ));
    }
    let mut lines: Vec<(usize, u32)> = Vec::new();
    for cargo in cargos {
        let offer = &c.offers[c.offer_index(cargo.offer_id).expect("checked above")];
        let has_skus = c.skus[offer.skus[0]].spec_id.is_some();
        let Some(sku) = c.find(cargo.offer_id, &cargo.spec_id) else {
            let message = if has_skus && cargo.spec_id.is_empty() {
                format!("商品[{}]有多个规格，specId 不能为空", cargo.offer_id)
            } else if has_skus {
                format!(
                    "specId[{}]不是商品[{}]的规格",
                    cargo.spec_id, cargo.offer_id
                )
            } else {
                format!(
                    "商品[{}]没有规格，specId[{}]无效",
                    cargo.offer_id, cargo.spec_id
                )
            };
            return Err(refusal("500_003", message));
        };
        match lines.iter_mut().find(|(s, _)| *s == sku) {
            Some((_, q)) => *q = q.saturating_add(cargo.quantity),
            None => lines.push((sku, cargo.quantity)),
        }
    }
    let offer_total = |offer: usize| -> u32 {
        lines
            .iter()
            .filter(|(s, _)| c.skus[*s].offer == offer)
            .map(|(_, q)| *q)
            .sum()
    };
    for &(sku, _) in &lines {
        let offer = &c.offers[c.skus[sku].offer];
        let total = offer_total(c.skus[sku].offer);
        let moq = offer.listing.min_order_quantity;
        if total < moq {
            return Err(refusal(
                "500_005",
                format!(
                    "商品[{}]起批量为{moq}{}，当前购买{total}{}",
                    offer.offer_id, offer.unit, offer.unit
                ),
            ));
        }
    }
    for &(sku, quantity) in &lines {
        let stock = c.skus[sku].stock;
        if i64::from(quantity) > stock {
            let offer = c.offer_of(sku);
            let spec = c.skus[sku].spec_id.as_deref().unwrap_or("");
            return Err(refusal(
                "500_004",
                format!(
                    "商品[{}]规格[{spec}]库存不足：可售{stock}{}，购买{quantity}{}",
                    offer.offer_id, offer.unit, offer.unit
                ),
            ));
        }
    }
    Ok(lines
        .iter()
        .map(|&(sku, quantity)| {
            let offer = c.offer_of(sku);
            let unit_price = match offer.listing.quote_type {
                QuoteType::BySpec => c.skus[sku].price,
                // Quantity breaks count every SKU of the offer on the order.
                _ => {
                    let total = offer_total(c.skus[sku].offer);
                    offer
                        .listing
                        .price_ranges
                        .iter()
                        .filter(|(start, _)| *start <= total)
                        .map(|(_, price)| *price)
                        .next_back()
                        .unwrap_or(c.skus[sku].price)
                }
            };
            Priced {
                sku,
                quantity,
                unit_price,
            }
        })
        .collect())
}

/// Splits a cart in two when it holds more than [`SPLIT_ABOVE_OFFERS`] offers, or when
/// `force`d and it has two lines or more: the first half of the offers (or, with a
/// single offer, of the lines) in the first order.
fn split(c: &Catalogue, lines: Vec<Priced>, force: bool) -> Vec<Vec<Priced>> {
    let mut offers: Vec<usize> = Vec::new();
    for l in &lines {
        if !offers.contains(&c.skus[l.sku].offer) {
            offers.push(c.skus[l.sku].offer);
        }
    }
    if !(offers.len() > SPLIT_ABOVE_OFFERS || force && lines.len() >= 2) {
        return vec![lines];
    }
    if offers.len() >= 2 {
        let first: Vec<usize> = offers[..offers.len().div_ceil(2)].to_vec();
        let (a, b): (Vec<Priced>, Vec<Priced>) = lines
            .into_iter()
            .partition(|l| first.contains(&c.skus[l.sku].offer));
        vec![a, b]
    } else {
        let mut a = lines;
        let b = a.split_off(a.len().div_ceil(2));
        vec![a, b]
    }
}

fn fen(yuan: Decimal) -> i64 {
    (yuan * Decimal::ONE_HUNDRED)
        .round()
        .to_i64()
        .expect("an order amount fits in fen")
}

/// The seller's shipping fee for one order, in fen: fixed per seller.
pub(crate) fn post_fee_fen(c: &Catalogue, seller: usize) -> i64 {
    const FEES: [i64; 5] = [500, 600, 800, 1000, 1200];
    FEES[(c.sellers[seller].user_id % FEES.len() as i64) as usize]
}

/// One would-be order of a preview: `orderPreviewResuslt[i]`.
fn preview_entry(c: &Catalogue, flow: Flow, lines: &[Priced]) -> Value {
    let seller = c.offer_of(lines[0].sku).seller;
    let goods: i64 = lines
        .iter()
        .map(|l| fen(l.unit_price * Decimal::from(l.quantity)))
        .sum();
    let carriage = post_fee_fen(c, seller);
    let cargo_list: Vec<Value> = lines
        .iter()
        .map(|l| {
            let sku = &c.skus[l.sku];
            let mut cargo = Map::new();
            cargo.insert("offerId".into(), json!(c.offer_of(l.sku).offer_id));
            if let Some(spec) = &sku.spec_id {
                cargo.insert("specId".into(), json!(spec));
            }
            if let Some(id) = sku.sku_id {
                cargo.insert("skuId".into(), json!(id));
            }
            // Yuan here, as in the D5 sample (`"amount":36,"finalUnitPrice":18` with
            // `"sumPaymentNoCarriage":3600`).
            cargo.insert(
                "amount".into(),
                money(l.unit_price * Decimal::from(l.quantity)),
            );
            cargo.insert("finalUnitPrice".into(), money(l.unit_price));
            cargo.insert("cargoPromotionList".into(), json!([]));
            Value::Object(cargo)
        })
        .collect();
    json!({
        "status": true,
        "flowFlag": flow.flag(),
        "sumPayment": goods + carriage,
        "sumCarriage": carriage,
        "sumPaymentNoCarriage": goods,
        "discountFee": 0,
        "additionalFee": 0,
        "tradeModeNameList": [flow.trade_mode()],
        "tradeModelList": [{
            "name": "担保交易",
            "description": "买家付款后资金由平台担保，确认收货后打款给卖家",
            "tradeType": flow.trade_mode(),
            "opSupport": true,
        }],
        "cargoList": cargo_list,
        "shopPromotionList": [],
    })
}

/// `alibaba.createOrder.preview`: `{"orderPreviewResuslt":[…],"success":true}` (the
/// misspelling is 1688's), one entry per order the cart would become; refusals as
/// `{"success":false,"errorCode","errorMsg"}`.
pub(crate) fn preview(shared: &Shared, p: &Params) -> Value {
    let c = &shared.catalogue;
    let state = shared.lock();
    let checked = (|| {
        let flow = Flow::parse(p)?;
        let cargos = cargos(p)?;
        ship_to(&state, p)?;
        Ok::<_, Refusal>((flow, price(&state, c, &cargos)?))
    })();
    match checked {
        Ok((flow, lines)) => json!({
            "orderPreviewResuslt": split(c, lines, false)
                .iter()
                .map(|group| preview_entry(c, flow, group))
                .collect::<Vec<_>>(),
            "postFeeByDescOfferList": [],
            "consignOfferList": [],
            "success": true,
        }),
        Err(r) => json!({"success": false, "errorCode": r.code, "errorMsg": r.message}),
    }
}

/// The answer of a create call for the orders it placed (or had placed before, for a
/// repeated `outOrderId`).
fn created_answer(state: &World, ids: &[i64], cross: bool) -> Value {
    let orders: Vec<&orders::Order> = ids.iter().filter_map(|id| state.orders.get(id)).collect();
    let total: i64 = orders.iter().map(|o| fen(o.total_amount())).sum();
    let post: i64 = orders.iter().map(|o| fen(o.shipping_fee)).sum();
    let mut result = Map::new();
    result.insert("totalSuccessAmount".into(), json!(total));
    result.insert(
        "orderId".into(),
        json!(ids.first().map(i64::to_string).unwrap_or_default()),
    );
    result.insert("postFee".into(), json!(post));
    result.insert("failedOfferList".into(), json!([]));
    if cross {
        result.insert("success".into(), json!(true));
        result.insert(
            "orderList".into(),
            Value::Array(
                orders
                    .iter()
                    .map(|o| {
                        json!({
                            "orderId": o.id.to_string(),
                            "orderAmmount": fen(o.total_amount()),
                            "postFee": fen(o.shipping_fee),
                            "resultCode": "SUCCESS",
                            "success": true,
                            "message": "",
                        })
                    })
                    .collect(),
            ),
        );
    }
    json!({"result": Value::Object(result), "success": true})
}

/// `alibaba.trade.fastCreateOrder` (`cross == false`) and
/// `alibaba.trade.createCrossOrder`: validate like the preview, then place the order(s)
/// in `waitbuyerpay`. See the module docs of [`super`] for the answers.
pub(crate) fn create(shared: &Shared, p: &Params, cross: bool) -> Value {
    let refuse = |r: Refusal| json!({"success": false, "code": r.code, "message": r.message});
    let c = &shared.catalogue;
    let now = shared.now();
    let mut guard = shared.lock();
    let state = &mut *guard;
    let out_order_id = p.get("outOrderId").map(str::to_owned);
    let key = out_order_id
        .as_ref()
        .map(|id| (shared.config.app_key.clone(), id.clone()));
    if let Some(ids) = key.as_ref().and_then(|k| state.out_orders.get(k)) {
        return created_answer(state, ids, cross);
    }
    let checked = (|| {
        let flow = Flow::parse(p)?;
        if let Some(trade_type) = p.get("tradeType")
            && trade_type != flow.trade_mode()
        {
            return Err(bad_param(format!("not support tradeType:【{trade_type}】")));
        }
        let message = p.get("message").map(str::to_owned);
        if message
            .as_ref()
            .is_some_and(|m| m.chars().count() > MAX_MESSAGE_CHARS)
        {
            return Err(bad_param(format!(
                "message: longer than {MAX_MESSAGE_CHARS} characters"
            )));
        }
        let cargos = cargos(p)?;
        let ship_to = ship_to(state, p)?;
        Ok::<_, Refusal>((message, ship_to, price(state, c, &cargos)?))
    })();
    let (message, ship_to, lines) = match checked {
        Ok(v) => v,
        Err(r) => return refuse(r),
    };
    let force = state.split_next_create && lines.len() >= 2;
    if force {
        state.split_next_create = false;
    }
    // Real order times have whole seconds.
    let created = DateTime::<Utc>::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let mut ids = Vec::new();
    for group in split(c, lines, force) {
        let seller = c.offer_of(group[0].sku).seller;
        let spec = Spec {
            id: None,
            created,
            modified: None,
            status: "waitbuyerpay".into(),
            lines: group
                .iter()
                .map(|l| (l.sku, l.quantity, Some(l.unit_price)))
                .collect(),
            entry_discounts: false,
            shipping_fee: Decimal::new(post_fee_fen(c, seller), 2),
            discount_fen: 0,
            business_type: "cn".into(),
            refund_status: None,
            memo: message.clone(),
            id_of_str_as_number: false,
            address: 0,
            partial_shipment: false,
            lively: false,
            offset: china(),
        };
        let mut order =
            orders::materialise(spec, c, &mut state.ids, &mut state.created_rng, created);
        order.out_order_id = out_order_id.clone();
        order.ship_to = Some(ship_to.clone());
        ids.push(order.id);
        state.orders.insert(order.id, order);
    }
    if let Some(k) = key {
        state.out_orders.insert(k, ids.clone());
    }
    created_answer(state, &ids, cross)
}

/// `alibaba.trade.cancel`: `{"success":true}`, or `{"success":false,"errorCode",
/// "errorMessage"}` with `ORDER_NOT_EXIST`, `ORDER_STATUS_ERROR` (not `waitbuyerpay`),
/// `CLOSE_ORDER_TOO_FAST` (younger than [`CANCEL_NOT_BEFORE`]) or `400` (parameters).
pub(crate) fn cancel(shared: &Shared, p: &Params) -> Value {
    let refuse = |code: &str, message: String| json!({"success": false, "errorCode": code, "errorMessage": message});
    match p.get("webSite") {
        Some("1688") => {}
        other => {
            return refuse(
                "400",
                format!(
                    "webSite: `{}` is not supported, use 1688",
                    other.unwrap_or("")
                ),
            );
        }
    }
    let id = match p.get("tradeID").map(|v| (v, v.trim().parse::<i64>())) {
        Some((_, Ok(id))) => id,
        Some((v, Err(_))) => return refuse("400", format!("tradeID: `{v}` is not an order id")),
        None => return refuse("400", "tradeID: required".into()),
    };
    let reason = match p.get("cancelReason") {
        Some(r @ ("buyerCancel" | "sellerGoodsLack" | "other")) => r.to_owned(),
        Some(other) => {
            return refuse(
                "400",
                format!(
                    "cancelReason: `{other}` is not one of buyerCancel, sellerGoodsLack, other"
                ),
            );
        }
        None => return refuse("400", "cancelReason: required".into()),
    };
    let now = shared.now();
    let mut guard = shared.lock();
    let state = &mut *guard;
    let Some(order) = state.orders.get_mut(&id) else {
        return refuse("ORDER_NOT_EXIST", format!("订单[{id}]不存在"));
    };
    if order.status != "waitbuyerpay" {
        return refuse(
            "ORDER_STATUS_ERROR",
            format!(
                "订单[{id}]当前状态为{}，只有等待买家付款的订单可以取消",
                order.status
            ),
        );
    }
    let not_before = ChronoDuration::from_std(CANCEL_NOT_BEFORE).expect("ten seconds");
    if now - order.created < not_before {
        return refuse(
            "CLOSE_ORDER_TOO_FAST",
            format!("订单[{id}]创建不足10秒，请稍后再关闭"),
        );
    }
    orders::apply(order, OrderChange::Cancel, &mut state.insert_rng, now);
    order.close_reason = Some(reason);
    order.close_remark = p.get("remark").map(str::to_owned);
    json!({"success": true})
}

/// `alibaba.alipay.url.get`: `{"payUrl":"https://trade.1688.com/order/cashier.htm?
/// orderId=ID,ID","success":true}` for up to [`MAX_PAY_ORDERS`] unpaid orders;
/// refusals as `{"success":false,"errorCode","erroMsg"}` (sic).
pub(crate) fn pay_url(shared: &Shared, p: &Params) -> Value {
    let refuse = |code: &str, message: String| json!({"success": false, "errorCode": code, "erroMsg": message});
    let ids: Vec<i64> = match p.get("orderIdList").map(serde_json::from_str::<Value>) {
        None => return refuse("400", "orderIdList: required".into()),
        Some(Ok(Value::Array(items))) => match items.iter().map(integer).collect() {
            Some(ids) => ids,
            None => return refuse("400", "orderIdList: not a list of order ids".into()),
        },
        Some(_) => return refuse("400", "orderIdList: not a JSON array".into()),
    };
    if ids.is_empty() {
        return refuse("400", "orderIdList: empty".into());
    }
    if ids.len() > MAX_PAY_ORDERS {
        return refuse(
            "400",
            format!(
                "orderIdList: at most {MAX_PAY_ORDERS} orders, got {}",
                ids.len()
            ),
        );
    }
    let state = shared.lock();
    for id in &ids {
        match state.orders.get(id) {
            None => return refuse("ORDER_NOT_EXIST", format!("订单[{id}]不存在")),
            Some(o) if o.status != "waitbuyerpay" => {
                return refuse(
                    "ORDER_STATUS_ERROR",
                    format!("订单[{id}]当前状态为{}，不需要付款", o.status),
                );
            }
            Some(_) => {}
        }
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    json!({
        "payUrl": format!("https://trade.1688.com/order/cashier.htm?orderId={list}"),
        "success": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_come_as_numbers_or_numeric_strings() {
        assert_eq!(integer(&json!(5)), Some(5));
        assert_eq!(
            integer(&json!("3657499272179232333")),
            Some(3657499272179232333)
        );
        assert_eq!(integer(&json!(2.0)), Some(2));
        assert_eq!(integer(&json!(2.5)), None);
        assert_eq!(integer(&json!("x")), None);
        assert_eq!(integer(&json!(null)), None);
    }

    #[test]
    fn the_default_addresses_have_one_default() {
        let a = default_addresses();
        assert_eq!(a.len(), 2);
        assert_eq!(a.iter().filter(|a| a.is_default).count(), 1);
        assert_ne!(a[0].id, a[1].id);
    }
}
