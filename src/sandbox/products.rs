//! The product APIs a buyer app uses (1688-open-api.md §6): `alibaba.product.follow`
//! and `alibaba.cross.productInfo`, over the same catalogue the orders are drawn from.
//!
//! Business errors come with HTTP 200 in each API's own shape (§8): `follow` answers
//! `{"code", "message"}` (code 0 is success), `productInfo` `{"success": false,
//! "message"}`.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::catalogue::{Catalogue, Offer, QuoteType};
use super::params::Params;
use super::render::money;
use super::rng::SplitMix64;
use super::server::{Shared, World};
use crate::api1688::time::format_1688;

/// `follow`'s code for an offer that does not exist.
pub(crate) const FOLLOW_UNKNOWN_OFFER: i64 = 1;
/// `follow`'s code for a missing or malformed `productId`.
pub(crate) const FOLLOW_BAD_PARAM: i64 = 400;

/// The message for an offer the app has not followed (§6).
pub(crate) const NO_PERMISSION: &str = "没有该商品的查询权限";

/// An offer's status and the time it last changed, as a test may have set them.
pub(crate) fn status_of<'a>(state: &'a World, offer: &'a Offer) -> (&'a str, DateTime<Utc>) {
    match state.offer_status.get(&offer.offer_id) {
        Some((status, at)) => (status.as_str(), *at),
        None => (offer.listing.status, offer.listing.updated),
    }
}

fn product_id(p: &Params) -> Result<i64, String> {
    match p.get("productId") {
        None => Err("productId: required".into()),
        Some(v) => match v.trim().parse::<i64>() {
            Ok(id) if id > 0 => Ok(id),
            _ => Err(format!("productId: `{v}` is not a product id")),
        },
    }
}

fn not_found(id: i64) -> String {
    format!("商品[{id}]不存在")
}

/// `alibaba.product.follow`: `{"code":0,"message":"success"}`, recording that the
/// app follows the offer (again is fine); an unknown offer gets a non-zero code.
pub(crate) fn follow(shared: &Shared, p: &Params) -> Value {
    let id = match product_id(p) {
        Ok(id) => id,
        Err(message) => return json!({"code": FOLLOW_BAD_PARAM, "message": message}),
    };
    if shared.catalogue.offer_index(id).is_none() {
        return json!({"code": FOLLOW_UNKNOWN_OFFER, "message": not_found(id)});
    }
    shared.lock().followed.insert(id);
    json!({"code": 0, "message": "success"})
}

/// `alibaba.cross.productInfo`: `{"success":true,"productInfo":{…},"bizGroupInfos":[]}`
/// for a followed offer, whatever its status; `{"success":false,"message":…}` for an
/// unknown offer or one the app does not follow.
pub(crate) fn product_info(shared: &Shared, p: &Params) -> Value {
    let failure = |message: String| json!({"success": false, "message": message});
    let id = match product_id(p) {
        Ok(id) => id,
        Err(message) => return failure(message),
    };
    let c = &shared.catalogue;
    let Some(index) = c.offer_index(id) else {
        return failure(not_found(id));
    };
    let state = shared.lock();
    if !state.followed.contains(&id) {
        return failure(NO_PERMISSION.into());
    }
    let (status, updated) = status_of(&state, &c.offers[index]);
    json!({
        "success": true,
        "productInfo": product_json(c, index, status, updated),
        "bizGroupInfos": [],
    })
}

/// 1688's attribute ids for the SKU dimensions the catalogue uses.
fn attribute_id(name: &str) -> i64 {
    match name {
        "颜色" => 3216,
        "尺码" => 450,
        "规格" => 1234,
        "容量" => 1398,
        "款式" => 2176,
        "长度" => 446,
        // Not reached with the built-in templates; stable all the same.
        other => {
            100_000
                + other
                    .chars()
                    .fold(0i64, |h, ch| (h * 31 + ch as i64) % 900_000)
        }
    }
}

/// The image of one value of the first SKU dimension (the colour swatch), stable per
/// offer and value.
fn sku_image(offer: &Offer, user_id: i64, value: &str) -> String {
    let mut rng = SplitMix64::stream(offer.offer_id as u64, value);
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let name: String = (0..22)
        .map(|_| CHARS[rng.index(CHARS.len())] as char)
        .collect();
    format!("img/ibank/O1CN01{name}_!!{user_id}-0-cib.jpg")
}

/// The `productInfo` object.
fn product_json(c: &Catalogue, index: usize, status: &str, updated: DateTime<Utc>) -> Value {
    let offer = &c.offers[index];
    let seller = &c.sellers[offer.seller];
    let listing = &offer.listing;
    let has_skus = c.skus[offer.skus[0]].spec_id.is_some();
    let stock: i64 = offer.skus.iter().map(|&s| c.skus[s].stock).sum();
    let cargo = c.product_cargo_number(offer);

    let mut info = Map::new();
    info.insert("productID".into(), json!(offer.offer_id));
    info.insert("productType".into(), json!("wholesale"));
    info.insert("categoryID".into(), json!(offer.category.0));
    info.insert("categoryName".into(), json!(offer.category.1));
    info.insert("subject".into(), json!(offer.title));
    let pictures: String = listing
        .images
        .iter()
        .map(|i| format!("<img src=\"https://cbu01.alicdn.com/{i}\"/>"))
        .collect();
    info.insert(
        "description".into(),
        json!(format!("<p>{}</p><p>{pictures}</p>", offer.title)),
    );
    info.insert("status".into(), json!(status));
    info.insert("supplierUserId".into(), json!(seller.user_id));
    info.insert("supplierLoginId".into(), json!(seller.login_id));
    info.insert("sellerLoginId".into(), json!(seller.login_id));
    info.insert("image".into(), json!({"images": listing.images}));
    info.insert("productCargoNumber".into(), json!(cargo));
    info.insert(
        "attributes".into(),
        json!([{"attributeID": 346, "attributeName": "货号", "value": cargo, "isCustom": false}]),
    );
    let prices = offer.skus.iter().map(|&s| c.skus[s].price);
    let (low, high) = (
        prices.clone().min().expect("an offer has a SKU"),
        prices.max().expect("an offer has a SKU"),
    );
    info.insert(
        "referencePrice".into(),
        json!(if low == high {
            low.normalize().to_string()
        } else {
            format!("{}~{}", low.normalize(), high.normalize())
        }),
    );

    if has_skus {
        let skus: Vec<Value> = offer
            .skus
            .iter()
            .map(|&s| {
                let sku = &c.skus[s];
                let attributes: Vec<Value> = sku
                    .attributes
                    .iter()
                    .enumerate()
                    .map(|(i, (name, value))| {
                        let mut a = Map::new();
                        a.insert("attributeID".into(), json!(attribute_id(name)));
                        a.insert("attributeValue".into(), json!(value));
                        a.insert("attributeDisplayName".into(), json!(name));
                        a.insert("attributeName".into(), json!(name));
                        // Only the first dimension (colour, style) carries pictures.
                        if i == 0 {
                            a.insert(
                                "skuImageUrl".into(),
                                json!(sku_image(offer, seller.user_id, value)),
                            );
                        }
                        Value::Object(a)
                    })
                    .collect();
                json!({
                    "skuId": sku.sku_id,
                    "specId": sku.spec_id,
                    "price": money(sku.price),
                    "retailPrice": money(sku.retail_price),
                    "amountOnSale": sku.stock,
                    "cargoNumber": sku.cargo_number,
                    "attributes": attributes,
                })
            })
            .collect();
        info.insert("skuInfos".into(), Value::Array(skus));
    }

    let mut sale = Map::new();
    sale.insert("supportOnlineTrade".into(), json!(status == "published"));
    sale.insert("mixWholeSale".into(), json!(listing.mix_wholesale));
    sale.insert("priceAuth".into(), json!(false));
    sale.insert(
        "priceRanges".into(),
        Value::Array(
            listing
                .price_ranges
                .iter()
                .map(|(q, p)| json!({"startQuantity": q, "price": money(*p)}))
                .collect(),
        ),
    );
    sale.insert("amountOnSale".into(), json!(stock));
    sale.insert("unit".into(), json!(offer.unit));
    sale.insert("minOrderQuantity".into(), json!(listing.min_order_quantity));
    sale.insert("batchNumber".into(), json!(1));
    sale.insert("quoteType".into(), json!(listing.quote_type.code()));
    if listing.quote_type == QuoteType::ByQuantity {
        sale.insert(
            "retailPrice".into(),
            money(c.skus[offer.skus[0]].retail_price),
        );
    }
    info.insert("saleInfo".into(), Value::Object(sale));
    info.insert(
        "shippingInfo".into(),
        json!({
            "freightTemplateID": listing.freight_template_id,
            "unitWeight": money(listing.unit_weight),
            "sendGoodsAddressText": format!("{} {} {}", seller.province, seller.city, seller.area),
        }),
    );
    info.insert("createTime".into(), json!(format_1688(listing.created)));
    info.insert("lastUpdateTime".into(), json!(format_1688(updated)));
    Value::Object(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_ids_are_fixed_for_known_names_and_stable_for_others() {
        assert_eq!(attribute_id("颜色"), 3216);
        assert_eq!(attribute_id("尺码"), 450);
        assert_eq!(attribute_id("材质"), attribute_id("材质"));
        assert_ne!(attribute_id("材质"), attribute_id("颜色"));
    }
}
