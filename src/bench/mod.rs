//! Benchmarks of sync1688 against the sandbox and fresh databases: `sync1688 bench`.
//!
//! Every figure is compared with a baseline measured in the same run (PostgreSQL's own
//! `COPY` of the same rows, the bound a rate limit sets, the cold sync), because the
//! seconds alone say more about the machine than about the code.

mod postgres;
pub mod process_memory;
mod processes;
mod report;
mod scenarios;

use std::path::PathBuf;

pub use process_memory::ProcessMemory;
pub use report::{Figure, Report};

/// The scenarios of `sync1688 bench`, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// Cold sync on PostgreSQL beside a COPY of the same rows, then the re-sync of the
    /// unchanged window; with the peak memory of the syncing process.
    Postgres,
    /// The same cold sync and re-sync on SQLite.
    Sqlite,
    /// A sync bound by 1688's latency and rate limit.
    ApiBound,
    /// The resident memory of an idle daemon with many accounts.
    IdleDaemon,
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The executable run as the sandbox and the sync (this one).
    pub exe: PathBuf,
    /// A PostgreSQL server where fresh databases may be created and dropped.
    pub postgres_url: String,
    pub scenarios: Vec<Scenario>,
    pub orders: usize,
    pub lines_per_order: u32,
    /// Share of the orders' lines whose SKU is given a mapping to a merchant SKU.
    pub mapped_share: f64,
    pub api_orders: usize,
    pub api_latency_ms: u64,
    pub api_rate: u32,
    pub idle_accounts: usize,
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            exe: PathBuf::from("sync1688"),
            postgres_url: "postgres://postgres@127.0.0.1:5432/postgres".into(),
            scenarios: vec![
                Scenario::Postgres,
                Scenario::Sqlite,
                Scenario::ApiBound,
                Scenario::IdleDaemon,
            ],
            orders: 50_000,
            lines_per_order: 5,
            mapped_share: 0.4,
            api_orders: 2_000,
            api_latency_ms: 250,
            api_rate: 5,
            idle_accounts: 10,
            seed: 1688,
        }
    }
}

/// Runs the chosen scenarios and gathers their figures. Progress goes to stderr.
pub async fn run(options: &BenchOptions) -> anyhow::Result<Report> {
    scenarios::run(options).await
}
