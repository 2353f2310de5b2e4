//! Helpers shared by the integration tests. Every test file declares `mod support;` and
//! uses a part of it, hence the allowances.
#![allow(dead_code, unused_imports, unused_macros)]

pub mod app;
pub mod db;
pub mod process;
pub mod sandbox_calls;
pub mod tcp_proxy;

pub use db::TestDb;

/// Generates `NAME::on_postgres` and `NAME::on_sqlite` for each `async fn NAME(db: TestDb)`
/// of the calling file: every behaviour is checked on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_postgres() {
                super::$name($crate::support::TestDb::postgres().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn on_sqlite() {
                super::$name($crate::support::TestDb::sqlite()).await
            }
        }
    )*};
}

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
