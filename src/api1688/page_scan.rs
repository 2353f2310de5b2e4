//! Checking an order-list page against the orders the store already holds, without
//! reading them. A re-sync of an unchanged window spent most of its time building trees of
//! orders only to find each one equal to what was stored; here a page is scanned once for
//! its top level and the raw text of each order, and each order's text is fingerprinted.
//! A page whose every order is known is answered from what is known; any other page is
//! read in full, exactly as [`read_order_list`] reads it, and carries the fingerprints of
//! its orders so that the store can keep them.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::ApiError;
use super::client::{check_answer, read_order_list};
use super::node::{self, KEY};
use super::orders::OrderListPage;
use crate::domain::{KnownOrders, RawHash};

/// [`read_order_list`], answering a page whose every order `known` holds without reading
/// its orders (their ids in [`OrderListPage::known`]), and giving every other page the
/// fingerprints of its orders ([`OrderListPage::raw_hashes`]).
pub fn read_order_list_known(
    api: &str,
    status: u16,
    body: &[u8],
    known: &KnownOrders,
) -> Result<Result<OrderListPage, String>, ApiError> {
    // Anything unusual (an error status, a body that is not an object with a list of
    // orders) is left to the full reader, which knows every failure's shape.
    let scanned = match status {
        200 => scan(body).ok(),
        _ => None,
    };
    let Some(scanned) = scanned else {
        return read_order_list(api, status, body);
    };
    let hashes: Vec<RawHash> = scanned
        .items
        .iter()
        .map(|item| RawHash::of(item.get().as_bytes()))
        .collect();
    let found: Option<Vec<i64>> = hashes.iter().map(|h| known.get(h).copied()).collect();
    if let Some(found) = found {
        // The page without its orders, read by the same rules as a whole page.
        let head = scanned.head_text();
        if let Ok(tree) = node::parse(head.as_bytes()) {
            check_answer(api, status, body, &tree)?;
            return Ok(OrderListPage::from_body(&tree).map(|mut page| {
                page.known = found;
                page
            }));
        }
    }
    let mut page = read_order_list(api, status, body)?;
    if let Ok(page) = &mut page
        && page.orders.len() == hashes.len()
    {
        page.raw_hashes = hashes;
    }
    Ok(page)
}

/// The top level of an order-list body: each member's raw text, and the items of the
/// last `result` (the one a reader of the whole body takes).
struct Scanned<'b> {
    members: Vec<(Cow<'b, str>, &'b RawValue)>,
    items: Vec<&'b RawValue>,
}

impl Scanned<'_> {
    /// The body's members with `result` emptied, as JSON text.
    fn head_text(&self) -> String {
        let mut text = String::from("{");
        for (key, value) in &self.members {
            text.push_str(&serde_json::Value::from(key.as_ref()).to_string());
            text.push(':');
            text.push_str(value.get());
            text.push(',');
        }
        text.push_str("\"result\":[]}");
        text
    }
}

fn scan(body: &[u8]) -> serde_json::Result<Scanned<'_>> {
    let text = std::str::from_utf8(body).map_err(de::Error::custom)?;
    serde_json::from_str(text)
}

impl<'de> Deserialize<'de> for Scanned<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevel)
    }
}

struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Scanned<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a list of orders")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::new();
        let mut items = None;
        while let Some(key) = map.next_key_seed(KEY)? {
            // serde_json's private tokens make an object read as something else: the
            // full reader knows what.
            if key.starts_with("$serde_json::private::") {
                return Err(de::Error::custom("a private token"));
            }
            if key == "result" {
                items = Some(map.next_value_seed(Items)?);
            } else {
                members.push((key, map.next_value::<&'de RawValue>()?));
            }
        }
        let items = items.ok_or_else(|| de::Error::missing_field("result"))?;
        Ok(Scanned { members, items })
    }
}

/// A list's items as raw text; anything else is an error (the full reader decides).
struct Items;

impl<'de> DeserializeSeed<'de> for Items {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Items {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of orders")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(50));
        while let Some(item) = seq.next_element::<&'de RawValue>()? {
            items.push(item);
        }
        Ok(items)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api1688::orders::tests::DOC_SAMPLE;

    const API: &str = "getBuyerOrderList";

    fn every_order_of(body: &[u8]) -> KnownOrders {
        let page = read_order_list_known(API, 200, body, &KnownOrders::new())
            .unwrap()
            .unwrap();
        assert_eq!(page.raw_hashes.len(), page.orders.len());
        page.orders
            .iter()
            .zip(&page.raw_hashes)
            .map(|(order, hash)| (*hash, order.as_ref().unwrap().order_id))
            .collect()
    }

    #[test]
    fn a_page_of_unknown_orders_reads_as_the_full_reader_reads_it_with_their_fingerprints() {
        let body = DOC_SAMPLE.as_bytes();
        let page = read_order_list_known(API, 200, body, &KnownOrders::new()).unwrap();
        let full = read_order_list(API, 200, body).unwrap().unwrap();
        let page = page.unwrap();
        assert_eq!(format!("{:?}", page.orders), format!("{:?}", full.orders));
        assert_eq!(page.total_record, full.total_record);
        assert_eq!(page.raw_hashes.len(), page.orders.len());
        assert!(page.known.is_empty());
    }

    /// Asserts that once every order of `body` is known, the page is answered with the
    /// ids, in order, and the total that reading it in full gives.
    pub(crate) fn assert_known_page_reads_as_the_full_page(body: &[u8]) {
        let known = every_order_of(body);
        let page = read_order_list_known(API, 200, body, &known)
            .unwrap()
            .unwrap();
        let full = read_order_list(API, 200, body).unwrap().unwrap();
        assert!(page.orders.is_empty());
        let ids = page.known.clone();
        let full_ids: Vec<i64> = full
            .orders
            .iter()
            .map(|o| o.as_ref().unwrap().order_id)
            .collect();
        assert_eq!(ids, full_ids);
        assert_eq!(page.total_record, full.total_record);
    }

    #[test]
    fn a_page_of_known_orders_is_answered_by_their_ids_without_reading_them() {
        assert!(!every_order_of(DOC_SAMPLE.as_bytes()).is_empty());
        assert_known_page_reads_as_the_full_page(DOC_SAMPLE.as_bytes());
    }

    #[test]
    fn one_changed_byte_in_one_order_makes_the_page_read_in_full() {
        let body = DOC_SAMPLE.as_bytes();
        let known = every_order_of(body);
        // The same amount written differently is a different text: read again, found equal
        // by the store's content hash.
        let changed = DOC_SAMPLE.replacen("\"status\"", "\"status\" ", 1);
        assert_ne!(changed, DOC_SAMPLE);
        let page = read_order_list_known(API, 200, changed.as_bytes(), &known)
            .unwrap()
            .unwrap();
        assert!(page.known.is_empty());
        assert!(!page.orders.is_empty());
        assert_eq!(page.raw_hashes.len(), page.orders.len());
    }

    #[test]
    fn an_error_answer_with_known_orders_is_still_the_error() {
        let body = DOC_SAMPLE.as_bytes();
        let known = every_order_of(body);
        let mut value: serde_json::Value = serde_json::from_slice(body).unwrap();
        value["success"] = false.into();
        value["errorCode"] = "500".into();
        let failed = value.to_string();
        let err = read_order_list_known(API, 200, failed.as_bytes(), &known).unwrap_err();
        assert!(matches!(err, ApiError::Business { .. }), "{err:?}");
        let err = read_order_list_known(API, 503, body, &known).unwrap_err();
        assert!(err.is_transient(), "{err:?}");
    }
}
