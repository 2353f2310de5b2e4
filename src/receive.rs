//! `sync1688 receive`: the warehouse's receiving session. The parcel's tracking number
//! finds its purchase orders; scanned merchant SKUs or GTINs (a scanner types a code and
//! Enter) or `--scan CODE[:QTY]` build the receipt; `--commit` or the final confirmation
//! writes it, and the goods are in stock at once.

use std::io::{BufRead, IsTerminal, Write};

use rust_decimal::Decimal;

use crate::domain::receiving::{ReceiptPlan, ReceiptRequest, Scan};
use crate::store::{ReceiptOutcome, Store, StoreError, StoredOrder};

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct ReceiveOptions {
    pub warehouse: String,
    pub tracking_no: Option<String>,
    pub po_numbers: Vec<String>,
    pub scans: Vec<String>,
    /// Scans from a file: one `CODE[:QTY]` per line.
    pub from_file: Option<std::path::PathBuf>,
    pub commit: bool,
    pub note: Option<String>,
}

/// Runs a receiving session; `Ok(None)` when nothing was written (a dry run or a
/// cancelled session).
pub async fn run(
    store: &dyn Store,
    options: ReceiveOptions,
    tolerance_percent: Decimal,
) -> anyhow::Result<Option<ReceiptOutcome>> {
    let mut request = ReceiptRequest {
        warehouse_code: options.warehouse.clone(),
        tracking_no: options.tracking_no.clone(),
        po_numbers: options.po_numbers.clone(),
        scans: Vec::new(),
        note: options.note.clone(),
    };
    for text in &options.scans {
        request.scans.push(Scan::parse(text)?);
    }
    if let Some(path) = &options.from_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let scan = Scan::parse(line)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), i + 1))?;
            request.scans.push(scan);
        }
    }
    let interactive = request.scans.is_empty() && std::io::stdin().is_terminal();
    show_orders(store, &request).await?;
    if interactive {
        scan_interactively(store, &mut request, tolerance_percent).await?;
        if request.scans.is_empty() {
            println!("Nothing scanned; nothing received.");
            return Ok(None);
        }
    }
    let plan = store
        .preview_receipt(&request, tolerance_percent)
        .await
        .map_err(rejection)?;
    print_plan(&plan);
    let confirmed = if options.commit {
        true
    } else if interactive {
        confirm("Receive these goods into stock? [y/N] ")?
    } else {
        println!("Dry run: nothing written. Add --commit to receive.");
        false
    };
    if !confirmed {
        return Ok(None);
    }
    let outcome = store
        .receive(&request, tolerance_percent)
        .await
        .map_err(rejection)?;
    println!("Receipt {} written:", outcome.receipt_id);
    for order in &outcome.orders {
        println!(
            "  {}: {} → {}",
            order.po_number, order.status_before, order.status
        );
    }
    Ok(Some(outcome))
}

/// A rule broken by the request reads as the rule, without "database error" around it.
pub fn rejection(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Rejected(rule) => anyhow::anyhow!(rule),
        StoreError::Warehouse(w) => anyhow::anyhow!(w),
        other => other.into(),
    }
}

async fn show_orders(store: &dyn Store, request: &ReceiptRequest) -> anyhow::Result<()> {
    let mut orders: Vec<StoredOrder> = Vec::new();
    if let Some(tracking) = request.tracking_no() {
        orders = store.orders_for_tracking(tracking).await?;
        if orders.is_empty() {
            anyhow::bail!("tracking number `{tracking}` belongs to no purchase order");
        }
    }
    for po in request.po_numbers() {
        if !orders.iter().any(|o| o.po_number == po) {
            match store.find_order_by_po_number(po).await? {
                Some(order) => orders.push(order),
                None => anyhow::bail!("purchase order `{po}` does not exist"),
            }
        }
    }
    for order in &orders {
        println!("{} ({}):", order.po_number, order.status);
        for line in &order.lines {
            let ordered = line.merchant_quantity.unwrap_or(line.quantity);
            let waiting = ordered - line.received_qty;
            println!(
                "  {:>3}  {:<20} {:>8} ordered {:>8} received {:>8} outstanding  {}",
                line.line_no,
                line.merchant_sku.as_deref().unwrap_or("(unmapped)"),
                ordered.normalize(),
                line.received_qty.normalize(),
                waiting.max(Decimal::ZERO).normalize(),
                line.title
            );
        }
    }
    Ok(())
}

/// Reads codes until an empty line or `done`; each scan is checked at once so that a
/// wrong code is refused while the item is still in hand.
async fn scan_interactively(
    store: &dyn Store,
    request: &mut ReceiptRequest,
    tolerance_percent: Decimal,
) -> anyhow::Result<()> {
    println!(
        "Scan merchant SKUs or GTINs (CODE or CODE:QTY), then Enter on an empty line to finish."
    );
    let stdin = std::io::stdin();
    loop {
        print!("scan> ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim();
        if line.is_empty() || line.eq_ignore_ascii_case("done") {
            return Ok(());
        }
        let scan = match Scan::parse(line) {
            Ok(scan) => scan,
            Err(e) => {
                println!("  refused: {e}");
                continue;
            }
        };
        request.scans.push(scan);
        match store.preview_receipt(request, tolerance_percent).await {
            Ok(plan) => {
                let total: Decimal = plan.lines.iter().map(|l| l.quantity).sum();
                println!("  ok: {} units on this receipt so far", total.normalize());
            }
            Err(e) => {
                request.scans.pop();
                println!("  refused: {}", rejection(e));
            }
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
    print!("{question}");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn print_plan(plan: &ReceiptPlan) {
    println!("Receipt into warehouse {}:", plan.warehouse.code);
    for l in &plan.lines {
        println!(
            "  {} line {:>3}  {:<20} +{:<8} ({} of {} received, {} outstanding after)",
            l.po_number,
            l.line_no,
            l.merchant_sku,
            l.quantity.normalize(),
            l.received_qty.normalize(),
            l.ordered.normalize(),
            l.outstanding.normalize()
        );
    }
    for o in &plan.orders {
        println!("  {}: {} → {}", o.po_number, o.status_before, o.status);
    }
}
