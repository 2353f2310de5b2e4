//! Helpers shared by the integration tests. Every test file declares `mod support;` and
//! uses a part of it, hence the allowances.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod db;
pub mod sandbox_calls;
pub mod tcp_proxy;

pub use db::TestDb;

/// Sends logs to the test output when `TEST_LOG` is set (`TEST_LOG=debug`); silent
/// otherwise.
pub fn init_logging() {
    if let Ok(level) = std::env::var("TEST_LOG") {
        let filter = tracing_subscriber::EnvFilter::try_new(&level)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("debug"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}
