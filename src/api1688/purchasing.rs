//! Placing 1688 orders from the ERP (`1688-open-api.md` §5 and §7): receiving addresses,
//! the preview, the create call with `outOrderId` so that a retry never orders twice,
//! cancelling, the payment page, and the parcels of an order.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::client::{Api, Client1688};
use super::error::ApiError;
use super::json;
use super::orders::parse_trade_info;
use crate::domain::Order1688;

impl Api {
    pub const RECEIVE_ADDRESS: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.trade.receiveAddress.get",
    };
    pub const ORDER_PREVIEW: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.createOrder.preview",
    };
    pub const FAST_CREATE_ORDER: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.trade.fastCreateOrder",
    };
    pub const CANCEL_ORDER: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.trade.cancel",
    };
    pub const PAY_URL: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.alipay.url.get",
    };
    pub const LOGISTICS_TRACE: Api = Api {
        namespace: "com.alibaba.logistics",
        name: "alibaba.trade.getLogisticsTraceInfo.buyerView",
    };
    pub const LOGISTICS_INFOS: Api = Api {
        namespace: "com.alibaba.logistics",
        name: "alibaba.trade.getLogisticsInfos.buyerView",
    };
}

/// One of the buyer's receiving addresses on 1688.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveAddress {
    pub id: String,
    pub full_name: String,
    pub address: String,
    pub post: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub address_code: Option<String>,
    pub address_code_text: Option<String>,
    /// 1688 omits `isDefault` on ordinary addresses: missing counts as false.
    pub is_default: bool,
}

/// One SKU and quantity to order, in 1688 units.
#[derive(Debug, Clone, PartialEq)]
pub struct Cargo {
    pub offer_id: i64,
    /// Empty for an offer without SKUs (not sent then).
    pub spec_id: String,
    pub quantity: Decimal,
}

/// What `createOrder.preview` says an order would cost (fen converted to yuan).
#[derive(Debug, Clone, PartialEq)]
pub struct Preview {
    pub total: Decimal,
    pub shipping_fee: Decimal,
    pub discount: Decimal,
    /// The trade modes the create call may use; empty means it cannot be placed by API.
    pub trade_modes: Vec<String>,
    /// 1688 splits orders: one entry per order it would create.
    pub orders: usize,
}

/// What a create call made: every 1688 order (1688 may split one request), and money
/// converted from fen.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub order_ids: Vec<i64>,
    pub total: Option<Decimal>,
    pub shipping_fee: Option<Decimal>,
    /// Offers 1688 left out, with its reason.
    pub failed: Vec<String>,
}

/// One parcel of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parcel {
    pub tracking_no: String,
    pub carrier: Option<String>,
    pub status: Option<String>,
    /// The `subItemID`s of the lines in the parcel (empty when 1688 did not say).
    pub sub_item_ids: Vec<i64>,
}

/// The steps a parcel went through, as the carrier reported them.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub tracking_no: Option<String>,
    pub steps: Vec<(Option<chrono::DateTime<chrono::Utc>>, String)>,
}

/// Fen (integer cents) to exact yuan.
fn yuan(fen: &Value) -> Option<Decimal> {
    json::decimal(fen).map(|f| f / Decimal::ONE_HUNDRED)
}

fn address_param(address_id: &str) -> String {
    json!({ "addressId": address_id }).to_string()
}

fn cargo_param(cargos: &[Cargo]) -> String {
    Value::Array(
        cargos
            .iter()
            .map(|c| {
                // Quantities are whole 1688 units; written as a JSON number, exactly.
                let quantity: Value = serde_json::from_str(&c.quantity.normalize().to_string())
                    .unwrap_or(Value::Null);
                let mut cargo = json!({ "offerId": c.offer_id, "quantity": quantity });
                if !c.spec_id.is_empty() {
                    cargo["specId"] = Value::String(c.spec_id.clone());
                }
                cargo
            })
            .collect(),
    )
    .to_string()
}

impl Client1688 {
    /// The buyer's receiving addresses.
    pub async fn receive_addresses(&self) -> Result<Vec<ReceiveAddress>, ApiError> {
        let body = self.call(Api::RECEIVE_ADDRESS, &[]).await?;
        Ok(parse_addresses(&body))
    }

    /// Checks an order before placing it: stock, minimum quantities, one seller, the
    /// trade modes. Its `500_00x` errors come back as [`ApiError::Business`].
    pub async fn preview_order(
        &self,
        address_id: &str,
        cargos: &[Cargo],
    ) -> Result<Preview, ApiError> {
        let params = vec![
            ("addressParam".to_owned(), address_param(address_id)),
            ("cargoParamList".to_owned(), cargo_param(cargos)),
            ("flow".to_owned(), "general".to_owned()),
        ];
        let body = self.call(Api::ORDER_PREVIEW, &params).await?;
        parse_preview(&body).map_err(|detail| ApiError::Malformed {
            api: Api::ORDER_PREVIEW.name.into(),
            detail,
        })
    }

    /// One attempt at creating the order (no retry: a create is not idempotent unless
    /// 1688 honours `out_order_id`, so the caller looks the order up before trying
    /// again).
    pub async fn create_order_once(
        &self,
        address_id: &str,
        cargos: &[Cargo],
        message: Option<&str>,
        out_order_id: &str,
        trade_type: Option<&str>,
    ) -> Result<Placed, ApiError> {
        let mut params = vec![
            ("flow".to_owned(), "general".to_owned()),
            ("addressParam".to_owned(), address_param(address_id)),
            ("cargoParamList".to_owned(), cargo_param(cargos)),
            ("outOrderId".to_owned(), out_order_id.to_owned()),
        ];
        if let Some(message) = message.filter(|m| !m.is_empty()) {
            params.push(("message".to_owned(), message.to_owned()));
        }
        if let Some(trade_type) = trade_type {
            params.push(("tradeType".to_owned(), trade_type.to_owned()));
        }
        let body = self.call_once(Api::FAST_CREATE_ORDER, &params).await?;
        parse_placed(&body).map_err(|detail| ApiError::Malformed {
            api: Api::FAST_CREATE_ORDER.name.into(),
            detail,
        })
    }

    /// Places an order exactly once, even when retried: a create whose outcome is
    /// unknown (timeout, dropped connection, 5xx, cut body) is looked up by
    /// `out_order_id` before it is tried again; a refusal (stock, minimum quantity,
    /// address) is returned as it is.
    pub async fn place_order(
        &self,
        address_id: &str,
        cargos: &[Cargo],
        message: Option<&str>,
        out_order_id: &str,
    ) -> Result<Placed, ApiError> {
        const ATTEMPTS: u32 = 4;
        let mut last_error = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let existing = self.orders_by_out_order_id(out_order_id).await?;
                if !existing.is_empty() {
                    tracing::info!(
                        out_order_id,
                        orders = existing.len(),
                        "the create that timed out had created the order"
                    );
                    return Ok(Placed {
                        order_ids: existing.iter().map(|o| o.order_id).collect(),
                        // `None` (unknown) rather than a panic for sums past `Decimal`.
                        total: existing
                            .iter()
                            .try_fold(Decimal::ZERO, |s, o| s.checked_add(o.total_amount)),
                        shipping_fee: existing
                            .iter()
                            .try_fold(Decimal::ZERO, |s, o| s.checked_add(o.shipping_fee)),
                        failed: Vec::new(),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(250 * u64::from(attempt)))
                    .await;
            }
            match self
                .create_order_once(address_id, cargos, message, out_order_id, None)
                .await
            {
                Ok(placed) => return Ok(placed),
                Err(e) if e.is_transient() => {
                    tracing::warn!(out_order_id, attempt, error = %e, "the create's outcome is unknown; looking it up before trying again");
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.expect("the loop ran"))
    }

    /// The orders created with `out_order_id` (to learn the outcome of a create that
    /// timed out).
    pub async fn orders_by_out_order_id(
        &self,
        out_order_id: &str,
    ) -> Result<Vec<Order1688>, ApiError> {
        let params = vec![
            ("outOrderId".to_owned(), out_order_id.to_owned()),
            ("page".to_owned(), "1".to_owned()),
            ("pageSize".to_owned(), "50".to_owned()),
        ];
        let body = self.call(Api::BUYER_ORDER_LIST, &params).await?;
        let items = body
            .get("result")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|t| parse_trade_info(t).ok())
            .filter(|o| o.out_order_id.as_deref() == Some(out_order_id))
            .collect())
    }

    /// Cancels an unpaid order (`alibaba.trade.cancel`).
    pub async fn cancel_order(
        &self,
        order_id: i64,
        reason: &str,
        remark: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut params = vec![
            ("webSite".to_owned(), "1688".to_owned()),
            ("tradeID".to_owned(), order_id.to_string()),
            ("cancelReason".to_owned(), reason.to_owned()),
        ];
        if let Some(remark) = remark {
            params.push(("remark".to_owned(), remark.to_owned()));
        }
        self.call_once(Api::CANCEL_ORDER, &params).await.map(|_| ())
    }

    /// Where the buyer pays for these orders (at most 30).
    pub async fn pay_url(&self, order_ids: &[i64]) -> Result<String, ApiError> {
        let ids = Value::Array(order_ids.iter().take(30).map(|id| json!(id)).collect()).to_string();
        let body = self
            .call(Api::PAY_URL, &[("orderIdList".to_owned(), ids)])
            .await?;
        json::field_text(&body, "payUrl").ok_or_else(|| ApiError::Malformed {
            api: Api::PAY_URL.name.into(),
            detail: "no payUrl".into(),
        })
    }

    /// The carrier's steps for every parcel of an order; none when 1688 has no trace yet.
    pub async fn traces(&self, order_id: i64) -> Result<Vec<Trace>, ApiError> {
        let params = vec![
            ("orderId".to_owned(), order_id.to_string()),
            ("webSite".to_owned(), "1688".to_owned()),
        ];
        match self.call(Api::LOGISTICS_TRACE, &params).await {
            Ok(body) => Ok(parse_traces(&body)),
            Err(ApiError::Business { code, .. }) if code == "404" || code == "500_2" => {
                Ok(Vec::new())
            }
            Err(e) => Err(e),
        }
    }

    /// The parcels of an order; none before shipment (1688 answers `500_2` then, which
    /// is not an error).
    pub async fn parcels(&self, order_id: i64) -> Result<Vec<Parcel>, ApiError> {
        let params = vec![
            ("orderId".to_owned(), order_id.to_string()),
            ("webSite".to_owned(), "1688".to_owned()),
        ];
        match self.call(Api::LOGISTICS_INFOS, &params).await {
            Ok(body) => Ok(parse_parcels(&body)),
            Err(ApiError::Business { code, .. }) if code == "500_2" => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

/// Reads `logisticsTrace[]` (the current shape; older SDKs call it `result`).
pub fn parse_traces(body: &Value) -> Vec<Trace> {
    body.get("logisticsTrace")
        .or_else(|| body.get("result"))
        .and_then(Value::as_array)
        .map(|traces| {
            traces
                .iter()
                .map(|t| Trace {
                    tracking_no: json::field_text(t, "logisticsBillNo"),
                    steps: t
                        .get("logisticsSteps")
                        .and_then(Value::as_array)
                        .map(|steps| {
                            steps
                                .iter()
                                .map(|s| {
                                    (
                                        json::field_text(s, "acceptTime")
                                            .and_then(|t| super::time::parse_1688(&t).ok()),
                                        json::field_text(s, "remark").unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn parse_addresses(body: &Value) -> Vec<ReceiveAddress> {
    let items = body
        .get("result")
        .and_then(|r| r.get("receiveAddressItems"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    items
        .iter()
        .filter_map(|a| {
            Some(ReceiveAddress {
                id: json::field_text(a, "id").or_else(|| json::field_text(a, "addressId"))?,
                full_name: json::field_text(a, "fullName").unwrap_or_default(),
                address: json::field_text(a, "address").unwrap_or_default(),
                post: json::field_text(a, "post").or_else(|| json::field_text(a, "postCode")),
                phone: json::field_text(a, "phone"),
                mobile: json::field_text(a, "mobilePhone")
                    .or_else(|| json::field_text(a, "mobile")),
                address_code: json::field_text(a, "addressCode"),
                address_code_text: json::field_text(a, "addressCodeText"),
                is_default: a.get("isDefault").and_then(json::boolean).unwrap_or(false),
            })
        })
        .collect()
}

pub fn parse_preview(body: &Value) -> Result<Preview, String> {
    // The key is misspelled by 1688 itself.
    let entries = body
        .get("orderPreviewResuslt")
        .or_else(|| body.get("orderPreviewResult"))
        .and_then(Value::as_array)
        .ok_or("no orderPreviewResuslt")?;
    let mut preview = Preview {
        total: Decimal::ZERO,
        shipping_fee: Decimal::ZERO,
        discount: Decimal::ZERO,
        trade_modes: Vec::new(),
        orders: entries.len(),
    };
    for e in entries {
        add_yuan(&mut preview.total, e, "sumPayment")?;
        add_yuan(&mut preview.shipping_fee, e, "sumCarriage")?;
        add_yuan(&mut preview.discount, e, "discountFee")?;
        for mode in e
            .get("tradeModeNameList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(mode) = json::text(mode)
                && !preview.trade_modes.contains(&mode)
            {
                preview.trade_modes.push(mode);
            }
        }
    }
    Ok(preview)
}

/// Adds an entry's fen amount to a sum in yuan; a sum past `Decimal`'s range is an error.
fn add_yuan(sum: &mut Decimal, entry: &Value, key: &str) -> Result<(), String> {
    if let Some(v) = entry.get(key).and_then(yuan) {
        *sum = sum
            .checked_add(v)
            .ok_or_else(|| format!("the orders' `{key}` add up past the largest amount"))?;
    }
    Ok(())
}

pub fn parse_placed(body: &Value) -> Result<Placed, String> {
    let result = body.get("result").ok_or("no result")?;
    let mut order_ids: Vec<i64> = result
        .get("orderList")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|o| o.get("orderId").and_then(json::id))
                .collect()
        })
        .unwrap_or_default();
    if let Some(id) = result.get("orderId").and_then(json::id)
        && !order_ids.contains(&id)
    {
        order_ids.insert(0, id);
    }
    if order_ids.is_empty() {
        return Err("no orderId in the answer".into());
    }
    let failed = result
        .get("failedOfferList")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| {
                    format!(
                        "offer {} spec {}: {}",
                        json::field_text(f, "offerId").unwrap_or_default(),
                        json::field_text(f, "specId").unwrap_or_default(),
                        json::field_text(f, "errorMessage")
                            .or_else(|| json::field_text(f, "errorCode"))
                            .unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Placed {
        order_ids,
        total: result.get("totalSuccessAmount").and_then(yuan),
        shipping_fee: result.get("postFee").and_then(yuan),
        failed,
    })
}

pub fn parse_parcels(body: &Value) -> Vec<Parcel> {
    body.get("result")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|p| {
                    Some(Parcel {
                        tracking_no: json::field_text(p, "logisticsBillNo")?,
                        carrier: json::field_text(p, "logisticsCompanyName"),
                        status: json::field_text(p, "status"),
                        sub_item_ids: json::field_text(p, "orderEntryIds")
                            .map(|ids| {
                                ids.split(',')
                                    .filter_map(|i| i.trim().parse().ok())
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_is_default_counts_as_false() {
        let body: Value = serde_json::from_str(
            r#"{"result":{"receiveAddressItems":[{"id":1,"fullName":"张三","address":"滨江区1号","addressCode":"330108"},
               {"id":"2","fullName":"李四","address":"x","isDefault":true}]},"success":true}"#,
        )
        .unwrap();
        let addresses = parse_addresses(&body);
        assert_eq!(addresses.len(), 2);
        assert!(!addresses[0].is_default && addresses[1].is_default);
        assert_eq!(addresses[0].id, "1");
    }

    #[test]
    fn preview_money_is_fen_and_the_misspelled_key_is_read() {
        let body: Value = serde_json::from_str(
            r#"{"orderPreviewResuslt":[{"tradeModeNameList":["nzassure"],"status":true,"sumPayment":4400,"sumCarriage":800,
               "sumPaymentNoCarriage":3600,"flowFlag":"general","cargoList":[]}],"success":true}"#,
        )
        .unwrap();
        let p = parse_preview(&body).unwrap();
        assert_eq!(p.total.to_string(), "44");
        assert_eq!(p.shipping_fee.to_string(), "8");
        assert_eq!(p.trade_modes, ["nzassure"]);
    }

    #[test]
    fn preview_sums_past_decimals_range_are_an_error_not_a_panic() {
        let entry = r#"{"sumPayment":79228162514264337593543950335}"#;
        let body: Value = serde_json::from_str(&format!(
            r#"{{"orderPreviewResuslt":[{}]}}"#,
            vec![entry; 101].join(",")
        ))
        .unwrap();
        let err = parse_preview(&body).unwrap_err();
        assert!(err.contains("sumPayment"), "{err}");
    }

    #[test]
    fn a_created_order_id_is_a_string_and_a_split_lists_every_order() {
        let fast: Value =
            serde_json::from_str(r#"{"result":{"totalSuccessAmount":156800,"orderId":"3657499272179232333","postFee":800},"success":true}"#)
                .unwrap();
        let placed = parse_placed(&fast).unwrap();
        assert_eq!(placed.order_ids, [3_657_499_272_179_232_333]);
        assert_eq!(placed.total.unwrap().to_string(), "1568");
        let cross: Value = serde_json::from_str(
            r#"{"result":{"orderId":"11","orderList":[{"orderId":"11","orderAmmount":100},{"orderId":"12","orderAmmount":200}]},"success":true}"#,
        )
        .unwrap();
        assert_eq!(parse_placed(&cross).unwrap().order_ids, [11, 12]);
    }

    #[test]
    fn a_trace_lists_its_steps_in_china_time() {
        let body: Value = serde_json::from_str(
            r#"{"logisticsTrace":[{"logisticsBillNo":"ZT1","logisticsSteps":[{"acceptTime":"2026-04-19 09:30:00","remark":"卖家已发货"}]}],"success":true}"#,
        )
        .unwrap();
        let traces = parse_traces(&body);
        assert_eq!(traces[0].tracking_no.as_deref(), Some("ZT1"));
        assert_eq!(
            traces[0].steps[0].0.unwrap().to_rfc3339(),
            "2026-04-19T01:30:00+00:00"
        );
        assert_eq!(traces[0].steps[0].1, "卖家已发货");
    }

    #[test]
    fn parcels_name_the_lines_they_carry() {
        let body: Value = serde_json::from_str(
            r#"{"result":[{"logisticsBillNo":"ZT123","logisticsCompanyName":"中通快递(ZTO)","status":"TRANSPORT","orderEntryIds":"11,12"}],"success":true}"#,
        )
        .unwrap();
        let parcels = parse_parcels(&body);
        assert_eq!(parcels[0].sub_item_ids, [11, 12]);
        assert_eq!(parcels[0].carrier.as_deref(), Some("中通快递(ZTO)"));
    }

    #[test]
    fn cargos_travel_as_json_text_without_an_empty_spec() {
        let text = cargo_param(&[
            Cargo {
                offer_id: 1,
                spec_id: "abc".into(),
                quantity: Decimal::from(3),
            },
            Cargo {
                offer_id: 2,
                spec_id: String::new(),
                quantity: Decimal::from(10),
            },
        ]);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0]["specId"], "abc");
        assert!(v[1].get("specId").is_none());
        assert_eq!(v[1]["offerId"].to_string(), "2");
    }
}
