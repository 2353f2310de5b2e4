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

#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Import mappings from a CSV file `offer_id,spec_id,merchant_sku[,quantity_ratio]`
    /// (all rows or none); waiting unmapped lines are re-mapped.
    Import { file: PathBuf },
}
