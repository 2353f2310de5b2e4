//! Reading a 1688 offer (`alibaba.cross.productInfo`, after `alibaba.product.follow`)
//! into [`Product1688`].

use rust_decimal::Decimal;
use serde_json::Value;

use super::json;
use crate::domain::{PriceRange, Product1688, ProductSku1688, SupplierRef};

/// The message 1688 gives for an offer that must be followed before it can be read.
pub const NOT_FOLLOWED: &str = "没有该商品的查询权限";

/// Reads a productInfo answer; `Err` names what is missing.
pub fn parse_product_info(offer_id: i64, body: &Value) -> Result<Product1688, String> {
    let info = body
        .get("productInfo")
        .filter(|v| v.is_object())
        .ok_or("no `productInfo` in the answer")?;
    let id = info.get("productID").and_then(json::id).unwrap_or(offer_id);
    if id != offer_id {
        return Err(format!("asked for offer {offer_id}, got {id}"));
    }
    let login_id = json::field_text(info, "supplierLoginId")
        .or_else(|| json::field_text(info, "sellerLoginId"))
        .ok_or("no supplierLoginId: the offer's supplier is unknown")?;
    let sale = info.get("saleInfo");
    let decimal_of =
        |obj: Option<&Value>, key: &str| obj.and_then(|o| o.get(key)).and_then(json::decimal);
    let price_ranges: Vec<PriceRange> = sale
        .and_then(|s| s.get("priceRanges"))
        .and_then(Value::as_array)
        .map(|ranges| {
            ranges
                .iter()
                .filter_map(|r| {
                    Some(PriceRange {
                        start_quantity: r.get("startQuantity").and_then(json::decimal)?,
                        price: r.get("price").and_then(json::decimal)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut skus: Vec<ProductSku1688> = info
        .get("skuInfos")
        .and_then(Value::as_array)
        .map(|skus| skus.iter().filter_map(parse_sku).collect())
        .unwrap_or_default();
    if skus.is_empty() {
        // An offer without SKUs is bought as itself: one SKU with an empty spec id.
        skus.push(ProductSku1688 {
            spec_id: String::new(),
            sku_id: None,
            attributes: String::new(),
            price: price_ranges.first().map(|r| r.price),
            cargo_number: json::field_text(info, "productCargoNumber"),
            stock: sale.and_then(|s| s.get("amountOnSale")).and_then(json::id),
        });
    }
    Ok(Product1688 {
        offer_id,
        subject: json::field_text(info, "subject").unwrap_or_default(),
        status: json::field_text(info, "status").unwrap_or_else(|| "unknown".into()),
        supplier: SupplierRef {
            login_id,
            member_id: json::field_text(info, "supplierMemberId"),
            name: json::field_text(info, "companyName"),
        },
        category: json::field_text(info, "categoryName"),
        unit: sale.and_then(|s| json::field_text(s, "unit")),
        min_order_quantity: decimal_of(sale, "minOrderQuantity")
            .or_else(|| decimal_of(sale, "beginAmount")),
        price_ranges,
        skus,
    })
}

fn parse_sku(sku: &Value) -> Option<ProductSku1688> {
    let spec_id = json::field_text(sku, "specId")?;
    let attributes = sku
        .get("attributes")
        .and_then(Value::as_array)
        .map(|attrs| {
            attrs
                .iter()
                .filter_map(|a| {
                    let name = json::field_text(a, "attributeDisplayName")
                        .or_else(|| json::field_text(a, "attributeName"))?;
                    let value = json::field_text(a, "attributeValue").unwrap_or_default();
                    Some(format!("{name}:{value}"))
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    let price: Option<Decimal> = ["price", "consignPrice", "retailPrice"]
        .iter()
        .find_map(|k| sku.get(*k).and_then(json::decimal));
    Some(ProductSku1688 {
        spec_id,
        sku_id: sku.get("skuId").and_then(json::id),
        attributes,
        price,
        cargo_number: json::field_text(sku, "cargoNumber"),
        stock: sku.get("amountOnSale").and_then(json::id),
    })
}

/// The offer id in an offer reference: a bare id, or a 1688 product URL such as
/// `https://detail.1688.com/offer/624508513236.html?spm=…`, its mobile forms
/// (`m.1688.com/offer/….html`, `…?offerId=…`), with or without a scheme.
pub fn parse_offer_ref(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let bad = || format!("`{text}` is neither a 1688 offer id nor a 1688 offer URL");
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(bad);
    }
    let without_scheme = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    let (host, rest) = without_scheme.split_once('/').ok_or_else(bad)?;
    let host = host.to_ascii_lowercase();
    if !(host == "1688.com" || host.ends_with(".1688.com")) {
        return Err(format!("`{text}` is not a 1688.com address"));
    }
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.split('#').next().unwrap_or(path);
    if let Some(file) = path.strip_prefix("offer/")
        && let Some(id) = file.strip_suffix(".html")
        && let Ok(id) = id.parse::<i64>()
    {
        return Ok(id);
    }
    for pair in query.split('&') {
        if let Some((key, value)) = pair.split_once('=')
            && (key == "offerId" || key == "offerid" || key == "id")
            && let Ok(id) = value.split('#').next().unwrap_or(value).parse::<i64>()
        {
            return Ok(id);
        }
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_references_come_as_ids_and_every_kind_of_product_url() {
        let cases = [
            ("624508513236", 624_508_513_236),
            (
                " https://detail.1688.com/offer/624508513236.html ",
                624_508_513_236,
            ),
            (
                "https://detail.1688.com/offer/624508513236.html?spm=a26352.13672862.offerlist.1&sk=consign",
                624_508_513_236,
            ),
            (
                "detail.1688.com/offer/624508513236.html#desc",
                624_508_513_236,
            ),
            ("http://m.1688.com/offer/624508513236.html", 624_508_513_236),
            (
                "https://detail.m.1688.com/page/index.htm?offerId=624508513236&spm=x",
                624_508_513_236,
            ),
        ];
        for (text, id) in cases {
            assert_eq!(parse_offer_ref(text), Ok(id), "{text}");
        }
    }

    #[test]
    fn other_text_is_refused_with_its_reason() {
        assert!(
            parse_offer_ref("https://item.taobao.com/item.htm?id=1")
                .unwrap_err()
                .contains("not a 1688.com")
        );
        for text in [
            "",
            "abc",
            "-5",
            "https://detail.1688.com/offer/abc.html",
            "https://www.1688.com/",
        ] {
            assert!(parse_offer_ref(text).is_err(), "{text}");
        }
    }

    #[test]
    fn a_product_without_skus_is_one_sku_with_an_empty_spec() {
        let body: Value = serde_json::from_str(
            r#"{"success":true,"productInfo":{"productID":7,"subject":"手机支架","status":"published",
            "supplierLoginId":"seller1","saleInfo":{"unit":"个","minOrderQuantity":2,"amountOnSale":500,
            "priceRanges":[{"startQuantity":2,"price":3.5},{"startQuantity":100,"price":2.9}]}}}"#,
        )
        .unwrap();
        let product = parse_product_info(7, &body).unwrap();
        assert_eq!(product.skus.len(), 1);
        assert_eq!(product.skus[0].spec_id, "");
        assert_eq!(product.skus[0].price.unwrap().to_string(), "3.5");
        assert_eq!(product.min_order_quantity.unwrap().to_string(), "2");
        assert_eq!(product.price_ranges[1].price.to_string(), "2.9");
    }

    #[test]
    fn sku_attributes_read_like_order_lines() {
        let body: Value = serde_json::from_str(
            r#"{"productInfo":{"productID":"8","status":"published","sellerLoginId":"s",
            "skuInfos":[{"skuId":3753684468637,"specId":"7a2087a6594c7d6030d8ff5c42c8a2e8","price":"39.90","amountOnSale":12,
            "attributes":[{"attributeName":"颜色","attributeValue":"深灰色"},{"attributeDisplayName":"尺码","attributeValue":"3XL"}]}]}}"#,
        )
        .unwrap();
        let product = parse_product_info(8, &body).unwrap();
        let sku = &product.skus[0];
        assert_eq!(sku.attributes, "颜色:深灰色; 尺码:3XL");
        assert_eq!(sku.sku_id, Some(3_753_684_468_637));
        assert_eq!(sku.stock, Some(12));
        assert!(parse_product_info(9, &body).is_err());
    }
}
