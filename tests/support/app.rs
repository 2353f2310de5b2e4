//! The application started in-process against the sandbox and a fresh database.

use std::sync::Arc;

use sync1688::app::{Application, RunOnceOptions};
use sync1688::config::{Settings, Sources};
use sync1688::sandbox::{self, SandboxConfig, SandboxHandle};
use sync1688::store::Store;
use sync1688::sync::RunReport;

use super::db::TestDb;

/// Quick retries so that fault tests finish fast; the behaviour is the production one.
pub const FAST_API: &str = r#"
[api]
timeout_secs = 5
max_retries = 4
retry_min_delay_ms = 10
retry_max_delay_ms = 100
rate_limit_pause_ms = 50
requests_per_second = 500
"#;

pub struct TestApp {
    pub sandbox: SandboxHandle,
    pub sandbox_config: SandboxConfig,
    pub db: TestDb,
    pub app: Application,
}

impl TestApp {
    /// Starts a sandbox with `sandbox_config` and the application on `db`, with one
    /// account `main`; `extra_toml` is layered last.
    pub async fn start(db: TestDb, sandbox_config: SandboxConfig, extra_toml: &str) -> TestApp {
        super::init_logging();
        let sandbox = sandbox::start(sandbox_config.clone(), ([127, 0, 0, 1], 0).into())
            .await
            .expect("the sandbox starts");
        let sources = Sources {
            inline: vec![
                config_toml(db.url(), &sandbox_config, &sandbox.base_url()),
                extra_toml.to_owned(),
            ],
            ..Sources::default()
        };
        let settings = Settings::load(&sources).expect("the test configuration is valid");
        let app = Application::build(settings)
            .await
            .expect("the application starts");
        TestApp {
            sandbox,
            sandbox_config,
            db,
            app,
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.app.store()
    }

    /// One `run --once` of the rolling window; exactly one report is expected.
    pub async fn sync_once(&self) -> RunReport {
        let mut reports = self
            .app
            .run_once(&RunOnceOptions::default())
            .await
            .expect("the run starts");
        assert_eq!(reports.len(), 1, "one account, one window");
        reports.remove(0)
    }
}

/// The configuration of a test: the database, the sandbox account, fast retries.
pub fn config_toml(db_url: &str, sandbox: &SandboxConfig, api_base: &str) -> String {
    format!(
        r#"
[database]
url = "{db_url}"
max_connections = 4
{FAST_API}
[daemon]
state_dir = "{state_dir}"

[[accounts]]
name = "main"
app_key = "{app_key}"
app_secret = "{app_secret}"
refresh_token = "{refresh_token}"
api_base = "{api_base}"
default_warehouse = "MAIN"
"#,
        app_key = sandbox.app_key,
        app_secret = sandbox.app_secret,
        refresh_token = sandbox.refresh_token,
        state_dir = fresh_state_dir(),
    )
}

/// A state directory of its own for each configuration, so that tokens one test stores
/// never reach another (or the developer's home).
pub fn fresh_state_dir() -> String {
    tempfile::Builder::new()
        .prefix("sync1688-state-")
        .tempdir()
        .expect("a temporary directory")
        .keep()
        .display()
        .to_string()
}
