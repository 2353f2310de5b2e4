//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

/// Brings a seller's 1688.com purchase orders into their ERP.
#[derive(Debug, Parser)]
#[command(name = "sync1688", version, about, long_about = None)]
pub struct Cli {
    /// The configuration file (TOML); defaults are built in.
    #[arg(long, global = true, env = "SYNC1688_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sync 1688 orders: once (`--once`), or as a daemon on `sync.schedule`.
    Run(RunArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Show each account's lease, change cursor and latest runs, from the database.
    Status,
    /// Ask a running daemon whether it is ready (exit 0) or not (exit 1).
    Healthcheck(HealthcheckArgs),
    /// Validate the configuration and print it, secrets redacted.
    CheckConfig,
    /// Serve the built-in 1688 sandbox (a stand-in for the real gateway).
    Sandbox(SandboxArgs),
    /// Run the main job on embedded defaults: sandbox, SQLite, sample mappings, one sync.
    Demo(DemoArgs),
    /// Measure sync speed and memory against the sandbox and fresh databases, each
    /// beside its baseline; prints a table (exit 1 when a target is missed).
    Bench(BenchArgs),
    /// 1688 buyer accounts: connect (authorize) and list.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Receive goods into stock: a tracking number, then scanned merchant SKUs or GTINs.
    Receive(ReceiveArgs),
    /// Print labels for the goods of a receipt (a PDF with Code 128 barcodes).
    Labels(LabelsArgs),
    /// Warehouses: add, list, delete.
    #[command(subcommand)]
    Warehouses(WarehousesCommand),
    /// Purchase orders: tracking numbers, deliberate re-imports.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// 1688 products (offers) added to the ERP.
    #[command(subcommand)]
    Products(ProductsCommand),
    /// Suppliers (1688 sellers), added with their products and orders.
    #[command(subcommand)]
    Suppliers(SuppliersCommand),
    /// Merchant SKUs.
    #[command(subcommand)]
    Skus(SkusCommand),
    /// Mappings from 1688 SKUs to merchant SKUs.
    #[command(subcommand)]
    Mappings(MappingsCommand),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run one sync and exit (0 when everything synced, 1 when anything failed).
    #[arg(long)]
    pub once: bool,
    /// Only this account.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Backfill from this date (inclusive, in sync.timezone), with --to.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "to", requires = "once")]
    pub from: Option<NaiveDate>,
    /// Backfill until this date (inclusive), with --from.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "from")]
    pub to: Option<NaiveDate>,
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The daemon's readiness endpoint; by default `/readyz` on `http.listen`.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8689")]
    pub listen: SocketAddr,
    #[arg(long, default_value = "1234567")]
    pub app_key: String,
    #[arg(long, default_value = "sandbox-secret")]
    pub app_secret: String,
    #[arg(long, default_value = "sandbox-refresh-token")]
    pub refresh_token: String,
    /// Orders to generate.
    #[arg(long, default_value_t = 200)]
    pub orders: usize,
    /// Mean lines per generated order (uniform 1..=2N-1); by default the skewed mix of
    /// real orders, 2.8 on average.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=50))]
    pub lines_per_order: Option<u32>,
    /// Days the generated orders spread over, ending now.
    #[arg(long, default_value_t = 3)]
    pub days: u32,
    /// Seed of the generated data (same seed, same data).
    #[arg(long, default_value_t = 1688)]
    pub seed: u64,
    /// Share of business calls answered with a proxy's 502 page (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Added to every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Requests per second per app key before gw.QosAppFrequencyLimit (none by default).
    #[arg(long, value_name = "QPS")]
    pub rate_limit: Option<u32>,
    /// Render every order for the order list before serving (as benchmarks do: the
    /// first rendering is the sandbox's work, not the client's).
    #[arg(long)]
    pub prerender: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A PostgreSQL server where the benchmark may create and drop databases.
    #[arg(
        long,
        env = "BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pub postgres_url: String,
    /// Only these scenarios (comma-separated); all by default.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<crate::bench::Scenario>,
    /// Orders of the cold sync and re-sync scenarios.
    #[arg(long, default_value_t = 50_000)]
    pub orders: usize,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub lines_per_order: u32,
    /// Share (0 to 1) of the orders' lines whose SKUs are mapped to merchant SKUs.
    #[arg(long, default_value_t = 0.4)]
    pub mapped_share: f64,
    /// Orders of the API-bound scenario.
    #[arg(long, default_value_t = 2_000)]
    pub api_orders: usize,
    /// Latency of each call in the API-bound scenario, milliseconds.
    #[arg(long, default_value_t = 250)]
    pub api_latency_ms: u64,
    /// Calls per second the sandbox allows, and the sync is configured with.
    #[arg(long, default_value_t = 5)]
    pub api_rate: u32,
    /// Accounts of the idle daemon.
    #[arg(long, default_value_t = 10)]
    pub idle_accounts: usize,
    #[arg(long, default_value_t = 1688)]
    pub seed: u64,
    /// Also write the figures as Markdown to this file (e.g. docs/benchmarks.md).
    #[arg(long, value_name = "PATH")]
    pub write: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Orders in the sandbox.
    #[arg(long, default_value_t = 200)]
    pub orders: usize,
    #[arg(long, default_value_t = 1688)]
    pub seed: u64,
    /// The SQLite file to write (replaced); by default one in the temporary directory.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SkusCommand {
    /// Import merchant SKUs from a CSV file `sku,gtin,name` (all rows or none).
    Import { file: PathBuf },
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// The warehouse receiving the goods (the orders' own).
    #[arg(long, value_name = "CODE")]
    pub warehouse: String,
    /// The parcel's tracking number.
    #[arg(long, value_name = "NO")]
    pub tracking: Option<String>,
    /// A purchase order to receive on (repeatable); narrows a parcel of several orders,
    /// or names an order without a tracking number.
    #[arg(long = "po", value_name = "PO_NUMBER")]
    pub po_numbers: Vec<String>,
    /// A scanned merchant SKU or GTIN, with an optional quantity (repeatable).
    #[arg(long = "scan", value_name = "CODE[:QTY]")]
    pub scans: Vec<String>,
    /// Scans from a file, one CODE[:QTY] per line.
    #[arg(long = "from", value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Write the receipt (without it, scans given on the command line are a dry run).
    #[arg(long)]
    pub commit: bool,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
}

#[derive(Debug, Args)]
pub struct LabelsArgs {
    pub receipt_id: i64,
    #[arg(long, value_name = "FILE.pdf")]
    pub out: PathBuf,
    /// One label per received unit, or one per line with its quantity.
    #[arg(long, value_enum, default_value = "unit")]
    pub per: LabelsPer,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LabelsPer {
    Unit,
    Line,
}

#[derive(Debug, Subcommand)]
pub enum WarehousesCommand {
    /// Add a warehouse (or rename one).
    Add {
        code: String,
        #[arg(long)]
        name: Option<String>,
    },
    /// List warehouses with their purchase orders and stock.
    List,
    /// Delete a warehouse and its purchase orders; sync never brings those 1688 orders
    /// back. Refused while it holds stock or received goods, unless --force.
    Delete {
        code: String,
        #[arg(long)]
        force: bool,
    },
    /// The stock of a warehouse.
    Stock { code: String },
}

#[derive(Debug, Subcommand)]
pub enum OrdersCommand {
    /// Create a 1688 purchase order as a draft (one supplier, at most 50 merchant SKUs);
    /// --place also orders it on 1688.
    Create {
        #[arg(long, value_name = "NAME")]
        account: String,
        /// The supplier's 1688 login id.
        #[arg(long, value_name = "LOGIN_ID")]
        supplier: String,
        #[arg(long, value_name = "CODE")]
        warehouse: String,
        /// A merchant SKU and a quantity in merchant units (repeatable).
        #[arg(long = "line", value_name = "MERCHANT_SKU:QTY", required = true)]
        lines: Vec<String>,
        /// Kept on the order and sent to the supplier as the order message.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Another of the account's 1688 addresses than the default.
        #[arg(long, value_name = "ID")]
        address_id: Option<String>,
        /// "Save and order with 1688".
        #[arg(long)]
        place: bool,
    },
    /// Order a draft on 1688 (exactly once, even when run again).
    Place { po_number: String },
    /// Edit a draft that is not placed yet: its note, warehouse or lines.
    Edit {
        po_number: String,
        #[arg(long, value_name = "TEXT", conflicts_with = "clear_note")]
        note: Option<String>,
        #[arg(long)]
        clear_note: bool,
        #[arg(long, value_name = "CODE")]
        warehouse: Option<String>,
        /// Replaces every line (repeatable).
        #[arg(long = "line", value_name = "MERCHANT_SKU:QTY")]
        lines: Vec<String>,
    },
    /// Move drafts to on_the_way.
    Submit {
        #[arg(required = true)]
        po_numbers: Vec<String>,
    },
    /// Show the parcels and the carrier's steps of a purchase order's 1688 orders.
    Trace { po_number: String },
    /// Cancel the unpaid 1688 orders of a placed purchase order.
    Cancel { po_number: String },
    /// Record a tracking number on a purchase order by hand.
    SetTracking {
        po_number: String,
        tracking_no: String,
        #[arg(long)]
        carrier: Option<String>,
    },
    /// Bring one 1688 order into the ERP on purpose (clears its tombstone).
    #[command(name = "import-1688")]
    Import1688 {
        #[arg(long, value_name = "NAME")]
        account: String,
        order_id: i64,
        #[arg(long, value_name = "CODE")]
        warehouse: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Authorize sync1688 for a 1688 buyer account: prints the authorization URL, then
    /// receives the redirect on a loopback listener (--listen) or reads the redirected URL
    /// or the bare code from the terminal, and keeps the refresh token.
    Connect {
        #[arg(long, value_name = "NAME")]
        account: String,
        /// Receive the browser's redirect here (e.g. 127.0.0.1:8690, or through an SSH
        /// tunnel); without it, paste the redirected URL or the code.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "redirect")]
        listen: Option<String>,
        /// How long to wait for the redirect.
        #[arg(long, default_value_t = 600, value_name = "SECS")]
        timeout: u64,
    },
    /// Each account, who authorized it, and when its tokens expire.
    List,
    /// The account's receiving addresses on 1688 (the default one is marked), as kept in
    /// the database; --refresh reads them from 1688 again.
    Addresses {
        #[arg(long, value_name = "NAME")]
        account: String,
        #[arg(long)]
        refresh: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProductsCommand {
    /// Add offers by id or 1688 URL (https://detail.1688.com/offer/ID.html, mobile URLs too);
    /// adding one again refreshes it.
    Add {
        #[arg(long, value_name = "NAME")]
        account: String,
        #[arg(required = true, value_name = "OFFER")]
        offers: Vec<String>,
    },
    /// Add every offer of a file (one id or URL per line, or the first column of a CSV),
    /// printing one outcome per row; exits 1 if any row failed.
    Import {
        #[arg(long, value_name = "NAME")]
        account: String,
        file: PathBuf,
    },
    /// List the stored product SKUs with their mappings.
    List {
        /// Only this offer.
        #[arg(long, value_name = "OFFER_ID")]
        offer: Option<i64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SuppliersCommand {
    /// List the suppliers with their products and purchase orders.
    List,
}

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Map one 1688 SKU to a merchant SKU; waiting unmapped lines are re-mapped. Use
    /// "" (or -) as SPEC_ID for an offer without SKUs.
    Set {
        offer_id: i64,
        spec_id: String,
        merchant_sku: String,
        /// Merchant units per 1688 unit (a 1688 pack of 10 is 10).
        #[arg(long, default_value = "1", value_name = "N")]
        ratio: rust_decimal::Decimal,
        /// Map even when the offer's stored product has no such SKU.
        #[arg(long)]
        force: bool,
    },
    /// Import mappings from a CSV file `offer_id,spec_id,merchant_sku[,quantity_ratio]`
    /// (all rows or none); waiting unmapped lines are re-mapped.
    Import {
        file: PathBuf,
        /// Accept 1688 SKUs that the offer's stored product does not have.
        #[arg(long)]
        force: bool,
    },
    /// Write every mapping as CSV (the import format) to FILE or standard output.
    Export { file: Option<PathBuf> },
    /// Delete one mapping (lines already mapped keep their merchant SKU).
    Delete { offer_id: i64, spec_id: String },
    /// The 1688 SKUs that lines wait on ("Create Mapping Relations"), most lines first.
    Unmapped {
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}
