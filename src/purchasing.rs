//! Creating and placing 1688 purchase orders from the ERP ("Create 1688 purchase order",
//! "Save and order with 1688"), submitting them, and cancelling unpaid ones.

use std::collections::HashMap;

use anyhow::Context;

use crate::api1688::purchasing::{Cargo, ReceiveAddress};
use crate::app::Application;
use crate::domain::purchasing::{MappedSku, WantedLine, plan_order};
use crate::store::{
    AddressRow, DraftEdit, NewPoLine, NewPurchaseOrder, Placement, StoredOrder, SubmitOutcome,
};

/// What `orders create` asks for.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub account: String,
    /// The supplier's 1688 login id.
    pub supplier: String,
    pub warehouse: String,
    pub lines: Vec<WantedLine>,
    pub note: Option<String>,
    /// Another of the account's addresses than the default.
    pub address_id: Option<String>,
}

/// Where an order was placed, and where to pay for it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub po_number: String,
    pub order_ids: Vec<i64>,
    pub pay_url: Option<String>,
    /// It had been placed before: nothing new was ordered.
    pub already: bool,
}

/// Creates a draft after checking every rule; nothing is written when one fails.
pub async fn create(app: &Application, request: &CreateRequest) -> anyhow::Result<StoredOrder> {
    let store = app.store();
    let mapped = mapped_skus(app).await?;
    let plan = plan_order(&request.supplier, &request.lines, &mapped)?;
    let address = choose_address(
        &request.account,
        addresses(app, &request.account, false).await?,
        request.address_id.as_deref(),
    )?;
    let order = NewPurchaseOrder {
        account: request.account.clone(),
        supplier_login_id: request.supplier.clone(),
        warehouse_code: request.warehouse.clone(),
        note: request.note.clone(),
        address_id_1688: address.id,
        lines: new_lines(plan),
    };
    Ok(store.create_purchase_order(&order).await?)
}

/// The account's receiving addresses: from the database, fetched from 1688 (and kept)
/// when `refresh` is asked or none are known yet.
pub async fn addresses(
    app: &Application,
    account: &str,
    refresh: bool,
) -> anyhow::Result<Vec<ReceiveAddress>> {
    let store = app.store();
    let cached = if refresh {
        Vec::new()
    } else {
        store.addresses(account).await?
    };
    if !cached.is_empty() {
        return Ok(cached
            .into_iter()
            .map(|a| ReceiveAddress {
                id: a.address_id,
                full_name: a.full_name,
                address: a.address,
                post: a.post,
                phone: a.phone,
                mobile: a.mobile,
                address_code: a.address_code,
                address_code_text: a.address_code_text,
                is_default: a.is_default,
            })
            .collect());
    }
    let fresh = app.client(account)?.receive_addresses().await?;
    let rows: Vec<AddressRow> = fresh
        .iter()
        .map(|a| AddressRow {
            account: account.to_owned(),
            address_id: a.id.clone(),
            full_name: a.full_name.clone(),
            address: a.address.clone(),
            address_code: a.address_code.clone(),
            address_code_text: a.address_code_text.clone(),
            post: a.post.clone(),
            phone: a.phone.clone(),
            mobile: a.mobile.clone(),
            is_default: a.is_default,
            fetched_at: chrono::Utc::now(),
        })
        .collect();
    store.replace_addresses(account, &rows).await?;
    Ok(fresh)
}

/// Edits a draft that is not placed yet: its note, its warehouse, and (for an order
/// created here) its lines, which go through the same rules as `create`.
pub async fn edit(
    app: &Application,
    po_number: &str,
    note: Option<Option<String>>,
    warehouse: Option<String>,
    lines: Option<Vec<WantedLine>>,
) -> anyhow::Result<StoredOrder> {
    let store = app.store();
    let lines = match lines {
        None => None,
        Some(wanted) => {
            let order = store
                .find_order_by_po_number(po_number)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no purchase order {po_number}"))?;
            let supplier = store
                .list_suppliers()
                .await?
                .into_iter()
                .find(|s| Some(s.id) == order.supplier_id)
                .map(|s| s.login_id_1688)
                .ok_or_else(|| anyhow::anyhow!("{po_number} has no supplier to order from"))?;
            let plan = plan_order(&supplier, &wanted, &mapped_skus(app).await?)?;
            Some(new_lines(plan))
        }
    };
    let edit = DraftEdit {
        note,
        warehouse_code: warehouse,
        lines,
    };
    Ok(store.edit_draft(po_number, &edit).await?)
}

/// Every mapped SKU of an added product, by merchant SKU.
async fn mapped_skus(app: &Application) -> anyhow::Result<HashMap<String, Vec<MappedSku>>> {
    let mut mapped: HashMap<String, Vec<MappedSku>> = HashMap::new();
    for sku in app.store().product_skus(None).await? {
        let Some(merchant_sku) = sku.merchant_sku.clone() else {
            continue;
        };
        mapped.entry(merchant_sku).or_default().push(MappedSku {
            offer_id: sku.offer_id,
            spec_id: sku.spec_id,
            sku_id: sku.sku_id,
            supplier_login_id: sku.supplier_login_id,
            quantity_ratio: sku.quantity_ratio.unwrap_or(rust_decimal::Decimal::ONE),
            min_order_quantity: sku.min_order_quantity,
            unit_price: sku.price,
            title: sku.subject,
            attributes: sku.attributes,
            status: sku.product_status,
        });
    }
    Ok(mapped)
}

fn new_lines(plan: Vec<crate::domain::purchasing::PlannedLine>) -> Vec<NewPoLine> {
    plan.into_iter()
        .map(|l| NewPoLine {
            merchant_sku: l.merchant_sku,
            merchant_quantity: l.merchant_quantity,
            offer_id: l.sku.offer_id,
            spec_id: l.sku.spec_id,
            sku_id_1688: l.sku.sku_id,
            quantity: l.quantity,
            unit_price: l.sku.unit_price.unwrap_or_default(),
            title: l.sku.title,
            attributes: l.sku.attributes,
        })
        .collect()
}

/// The account's default address, or the one `wanted` names.
fn choose_address(
    account: &str,
    addresses: Vec<ReceiveAddress>,
    wanted: Option<&str>,
) -> anyhow::Result<ReceiveAddress> {
    if addresses.is_empty() {
        anyhow::bail!(
            "the 1688 account `{account}` has no receiving address: add one on 1688, then refresh the addresses with `sync1688 accounts addresses --account {account} --refresh`"
        );
    }
    match wanted {
        Some(id) => addresses.into_iter().find(|a| a.id == id).ok_or_else(|| {
            anyhow::anyhow!("address {id} is not one of the 1688 account `{account}`'s addresses (see `sync1688 accounts addresses`)")
        }),
        // 1688 marks at most one address default; an account with none uses its first.
        None => {
            let first = addresses[0].clone();
            Ok(addresses.into_iter().find(|a| a.is_default).unwrap_or(first))
        }
    }
}

/// Places a draft on 1688 ("Save and order with 1688"): previews it (stock, minimum
/// quantities, trade modes), then creates it with the purchase order's `outOrderId`, so
/// that a retry after a timeout never makes a second 1688 order. Placing an order that
/// was placed before changes nothing.
pub async fn place(app: &Application, po_number: &str) -> anyhow::Result<Placed> {
    let store = app.store();
    let state = store
        .placing_state(po_number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no purchase order {po_number}"))?;
    if !state.order_ids_1688.is_empty() {
        return Ok(Placed {
            po_number: po_number.to_owned(),
            order_ids: state.order_ids_1688,
            pay_url: None,
            already: true,
        });
    }
    if state.status != "draft" {
        anyhow::bail!(
            "{po_number} is {}, not a draft: only drafts are placed",
            state.status
        );
    }
    let address = state
        .address_id_1688
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{po_number} has no 1688 address"))?;
    let order = store
        .find_order_by_po_number(po_number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no purchase order {po_number}"))?;
    let cargos: Vec<Cargo> = order
        .lines
        .iter()
        .map(|l| Cargo {
            offer_id: l.offer_id.unwrap_or_default(),
            spec_id: l.spec_id.clone().unwrap_or_default(),
            quantity: l.quantity,
        })
        .collect();
    let client = app.client(&state.account)?;
    let preview = client
        .preview_order(&address, &cargos)
        .await
        .with_context(|| format!("1688 will not take {po_number} as it is"))?;
    if preview.trade_modes.is_empty() {
        anyhow::bail!("1688 offers no way to place {po_number} through the API; place it on 1688");
    }
    let placed = client
        .place_order(
            &address,
            &cargos,
            state.note.as_deref(),
            &state.out_order_id,
        )
        .await
        .with_context(|| format!("placing {po_number} on 1688"))?;
    let pay_url = match client.pay_url(&placed.order_ids).await {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::warn!(po_number, error = %e, "no payment link");
            None
        }
    };
    store
        .record_placement(
            po_number,
            &Placement {
                order_ids: placed.order_ids.clone(),
                total_amount: placed.total,
                shipping_fee: placed.shipping_fee,
                pay_url: pay_url.clone(),
            },
        )
        .await?;
    Ok(Placed {
        po_number: po_number.to_owned(),
        order_ids: placed.order_ids,
        pay_url,
        already: false,
    })
}

/// Cancels the unpaid 1688 orders of a placed purchase order; the next sync marks the
/// draft cancelled when 1688 confirms.
pub async fn cancel(app: &Application, po_number: &str) -> anyhow::Result<Vec<i64>> {
    let state = app
        .store()
        .placing_state(po_number)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no purchase order {po_number}"))?;
    if state.order_ids_1688.is_empty() {
        anyhow::bail!("{po_number} was never placed on 1688: there is nothing to cancel there");
    }
    let client = app.client(&state.account)?;
    for id in &state.order_ids_1688 {
        client
            .cancel_order(
                *id,
                "buyerCancel",
                Some(&format!("cancelled from the ERP ({po_number})")),
            )
            .await
            .with_context(|| format!("cancelling 1688 order {id} of {po_number}"))?;
    }
    Ok(state.order_ids_1688)
}

pub async fn submit(
    app: &Application,
    po_numbers: &[String],
) -> anyhow::Result<Vec<SubmitOutcome>> {
    Ok(app.store().submit_orders(po_numbers).await?)
}
