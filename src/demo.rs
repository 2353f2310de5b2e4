//! `sync1688 demo`: the main job on embedded defaults. Starts the sandbox in-process,
//! creates a SQLite database, loads merchant SKUs and mappings for part of the sandbox's
//! offers, runs one sync and prints what arrived.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::app::{Application, RunOnceOptions};
use crate::config::{Settings, Sources};
use crate::imports;
use crate::sandbox::{self, SandboxConfig};

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub orders: usize,
    pub seed: u64,
    /// The SQLite file; a fresh one in the temporary directory by default.
    pub db: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            orders: 200,
            seed: 1688,
            db: None,
        }
    }
}

/// What the demo found, for its caller (and its test).
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub database: PathBuf,
    pub orders: u64,
    pub lines: u64,
    pub mapped_lines: u64,
    pub unmapped_lines: u64,
    pub succeeded: bool,
}

/// Every offer whose catalogue position is not a multiple of 5 or 5n+3 gets a mapping:
/// about 60%, so that both outcomes show.
fn is_mapped_in_demo(index: usize) -> bool {
    !matches!(index % 5, 0 | 3)
}

pub async fn run(options: &DemoOptions, out: &mut impl Write) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    let sandbox_config = SandboxConfig {
        orders: options.orders,
        seed: options.seed,
        ..SandboxConfig::default()
    };
    let handle = sandbox::start(sandbox_config.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .context("cannot start the sandbox")?;

    let db = options
        .db
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("sync1688-demo.db"));
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(path));
    }
    // The demo's tokens stay beside its database, never in the user's state directory.
    let state_dir = db.with_extension("state");
    let _ = std::fs::remove_dir_all(&state_dir);
    let toml = format!(
        r#"
        [database]
        url = "sqlite://{db}?mode=rwc"
        [log]
        level = "warn"
        [api]
        requests_per_second = 50
        [daemon]
        state_dir = "{state_dir}"
        [[accounts]]
        name = "demo"
        app_key = "{app_key}"
        app_secret = "{app_secret}"
        refresh_token = "{refresh_token}"
        api_base = "{api_base}"
        default_warehouse = "MAIN"
        "#,
        db = db.display().to_string().replace('\\', "/"),
        state_dir = state_dir.display().to_string().replace('\\', "/"),
        app_key = sandbox_config.app_key,
        app_secret = sandbox_config.app_secret,
        refresh_token = sandbox_config.refresh_token,
        api_base = handle.base_url(),
    );
    let settings = Settings::load(&Sources::inline(toml)).context("demo configuration")?;
    let tz = settings.sync.timezone;
    let app = Application::build(settings)
        .await
        .context("cannot open the demo database")?;
    let store = app.store();

    // Sample data goes through the same CSV parsers as `skus import` / `mappings import`.
    let offers = handle.offers();
    let mut skus_csv = String::from("sku,gtin,name\n");
    let mut mappings_csv = String::from("offer_id,spec_id,merchant_sku,quantity_ratio\n");
    let mut mapped = 0;
    for (index, offer) in offers.iter().enumerate() {
        if !is_mapped_in_demo(index) {
            continue;
        }
        mapped += 1;
        let sku = format!("DEMO-{:04}", index + 1);
        let gtin = imports::with_check_digit(&format!("69{:010}", index + 1));
        let name = format!("{} {}", offer.title, offer.attributes).replace('"', "'");
        skus_csv.push_str(&format!("{sku},{gtin},\"{}\"\n", name.trim()));
        mappings_csv.push_str(&format!("{},{},{sku},1\n", offer.offer_id, offer.spec_id));
    }
    let skus = imports::parse_merchant_skus(&skus_csv)
        .map_err(|p| anyhow::anyhow!("sample SKUs: {p:?}"))?;
    let mappings = imports::parse_mappings(&mappings_csv)
        .map_err(|p| anyhow::anyhow!("sample mappings: {p:?}"))?;
    store.import_merchant_skus(&skus).await?;
    store.import_mappings(&mappings).await?;

    let reports = app.run_once(&RunOnceOptions::default()).await?;
    let totals = store.totals().await?;
    let unmapped = store.unmapped_items(5).await?;
    handle.shutdown().await;

    writeln!(out, "sync1688 demo")?;
    writeln!(
        out,
        "  sandbox    {} orders over the last 3 days (seed {})",
        options.orders, options.seed
    )?;
    writeln!(out, "  database   {}", db.display())?;
    writeln!(
        out,
        "  mappings   {mapped} of the sandbox's {} 1688 SKUs mapped to merchant SKUs",
        offers.len()
    )?;
    writeln!(out)?;
    let mut succeeded = true;
    for r in &reports {
        let c = &r.counts;
        writeln!(
            out,
            "Synced account `{}`, orders created {} .. {} ({}): {}",
            r.account,
            r.window.start.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            r.window.end.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            tz.name(),
            r.status.as_str()
        )?;
        writeln!(
            out,
            "  orders     {} seen in {} pages: {} inserted, {} updated, {} unchanged",
            c.orders_seen, c.pages, c.orders_inserted, c.orders_updated, c.orders_unchanged
        )?;
        if !r.succeeded() {
            succeeded = false;
            writeln!(out, "  error      {}", r.errors.join("; "))?;
        }
    }
    writeln!(
        out,
        "  lines      {}: {} mapped, {} unmapped; {} orders wait on a mapping",
        totals.lines, totals.mapped_lines, totals.unmapped_lines, totals.orders_with_unmapped
    )?;
    writeln!(out, "  suppliers  {}", totals.suppliers)?;
    if !unmapped.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Top unmapped 1688 items (map one with `sync1688 mappings set OFFER_ID SPEC_ID MERCHANT_SKU`):"
        )?;
        for item in &unmapped {
            let spec = if item.spec_id.is_empty() {
                "(no SKUs)".to_owned()
            } else {
                item.spec_id.clone()
            };
            writeln!(
                out,
                "  offer {} spec {}  {} {}  — {} lines in {} orders",
                item.offer_id, spec, item.title, item.attributes, item.lines, item.orders
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Done in {:.1} s. Look inside: sqlite3 {}",
        started.elapsed().as_secs_f64(),
        db.display()
    )?;
    Ok(DemoSummary {
        database: db,
        orders: totals.orders,
        lines: totals.lines,
        mapped_lines: totals.mapped_lines,
        unmapped_lines: totals.unmapped_lines,
        succeeded,
    })
}
