//! Settings: built-in defaults (`config/default.toml`), then the `--config` file, then
//! `SYNC1688__SECTION__KEY` environment variables; secrets inline, from `*_file`, or from
//! `$CREDENTIALS_DIRECTORY`. Validation names the key that is wrong.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::store;

/// The documented defaults, compiled in so that the binary needs no file to start.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The embedded database when none is configured (relative to the working directory;
/// systemd's unit sets it to the state directory).
pub const DEFAULT_DATABASE_URL: &str = "sqlite://sync1688.db?mode=rwc";

/// The real 1688 gateway.
pub const REAL_API_BASE: &str = "https://gw.open.1688.com/openapi";

/// 1688's OAuth authorization page.
pub const REAL_AUTHORIZE_URL: &str = "https://auth.1688.com/oauth/authorize";

/// Where `accounts connect --listen` receives the browser by default.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:8690/callback";

/// Exit status for a bad configuration (`EX_CONFIG` from sysexits.h).
pub const EXIT_CONFIG: i32 = 78;

/// A configuration problem: the key and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    #[error("configuration: {0}")]
    Load(String),
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The validated, effective configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub sync: SyncSettings,
    pub daemon: DaemonSettings,
    pub receiving: ReceivingSettings,
    pub labels: LabelSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
    pub accounts: Vec<AccountSettings>,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// May hold a password: use [`store::redact_url`] to show it.
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    /// `None`: three schedule periods of each account.
    pub ready_max_age: Option<Duration>,
    pub db_check_cache: Duration,
    /// Bearer token of the receiving API; required beyond loopback.
    pub api_token: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct ReceivingSettings {
    /// Percent of a line's quantity that may be received on top of it.
    pub over_receipt_tolerance_percent: rust_decimal::Decimal,
}

#[derive(Debug, Clone)]
pub struct LabelSettings {
    pub width_mm: f32,
    pub height_mm: f32,
    /// A TrueType/OpenType font for names the built-in Helvetica cannot show (Chinese).
    pub font_path: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct DaemonSettings {
    /// Where tokens are kept (`None`: nowhere to keep them; tokens live in memory).
    pub state_dir: Option<PathBuf>,
    pub shutdown_grace: Duration,
    pub lease_ttl: Duration,
    /// This instance's name in `sync_leases.owner`.
    pub instance_id: String,
}

#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub schedule: String,
    pub timezone: Tz,
    pub lookback_days: u32,
    pub page_size: u32,
    pub page_concurrency: usize,
    pub backfill_chunk_days: u32,
    pub change_overlap: Duration,
    pub change_safety_margin: Duration,
    /// `sync_runs` rows older than this many days are deleted by the daemon; 0 keeps all.
    pub keep_runs_days: u32,
}

#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub timeout: Duration,
    pub max_retries: usize,
    pub retry_min_delay: Duration,
    pub retry_max_delay: Duration,
    pub rate_limit_pause: Duration,
    pub requests_per_second: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

/// One 1688 buyer account.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub name: String,
    pub app_key: String,
    pub app_secret: SecretString,
    /// The buyer's refresh token from the configuration or credentials; `None` until
    /// `accounts connect` stores one in the state directory.
    pub refresh_token: Option<SecretString>,
    pub api_base: String,
    /// 1688's authorization page (`accounts connect`).
    pub authorize_url: String,
    /// Where 1688 sends the browser back with the code; registered with the app.
    pub redirect_uri: String,
    pub default_warehouse: String,
    pub requests_per_second: u32,
    /// Cron with seconds first, in `sync.timezone`.
    pub schedule: String,
}

// The shape of the layered sources before validation.
#[derive(Deserialize)]
struct Raw {
    database: RawDatabase,
    http: RawHttp,
    sync: RawSync,
    daemon: RawDaemon,
    receiving: RawReceiving,
    labels: RawLabels,
    api: RawApi,
    log: RawLog,
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize)]
struct RawDatabase {
    url: Option<String>,
    url_file: Option<PathBuf>,
    max_connections: u32,
}

#[derive(Deserialize)]
struct RawHttp {
    listen: String,
    ready_max_age_secs: u64,
    db_check_cache_secs: u64,
    api_token: Option<String>,
    api_token_file: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawReceiving {
    over_receipt_tolerance_percent: rust_decimal::Decimal,
}

#[derive(Deserialize)]
struct RawLabels {
    width_mm: f32,
    height_mm: f32,
    font_path: Option<PathBuf>,
}

#[derive(Deserialize)]
struct RawDaemon {
    state_dir: String,
    shutdown_grace_secs: u64,
    lease_ttl_secs: u64,
    instance_id: String,
}

#[derive(Deserialize)]
struct RawSync {
    schedule: String,
    timezone: String,
    lookback_days: u32,
    page_size: u32,
    page_concurrency: usize,
    backfill_chunk_days: u32,
    change_overlap_secs: u64,
    change_safety_margin_secs: u64,
    keep_runs_days: u32,
}

#[derive(Deserialize)]
struct RawApi {
    timeout_secs: u64,
    max_retries: usize,
    retry_min_delay_ms: u64,
    retry_max_delay_ms: u64,
    rate_limit_pause_ms: u64,
    requests_per_second: u32,
}

#[derive(Deserialize)]
struct RawLog {
    level: String,
    format: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: Option<String>,
    app_key: Option<String>,
    app_secret: Option<String>,
    app_secret_file: Option<PathBuf>,
    refresh_token: Option<String>,
    refresh_token_file: Option<PathBuf>,
    api_base: Option<String>,
    default_warehouse: Option<String>,
    requests_per_second: Option<u32>,
    schedule: Option<String>,
    authorize_url: Option<String>,
    redirect_uri: Option<String>,
}

/// Where configuration comes from, besides the built-in defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The `--config` file.
    pub file: Option<PathBuf>,
    /// TOML texts layered after the file, in order (tests and the demo use them).
    pub inline: Vec<String>,
    /// Read `SYNC1688__…` variables from the process environment.
    pub environment: bool,
    /// `$CREDENTIALS_DIRECTORY`, if any.
    pub credentials_dir: Option<PathBuf>,
}

impl Sources {
    /// The sources a command-line process uses.
    pub fn from_process(file: Option<PathBuf>) -> Self {
        Sources {
            file,
            inline: Vec::new(),
            environment: true,
            credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        }
    }

    /// Only the defaults and `toml`: no file, no environment.
    pub fn inline(toml: impl Into<String>) -> Self {
        Sources {
            inline: vec![toml.into()],
            ..Sources::default()
        }
    }
}

impl Settings {
    /// Loads and validates the configuration.
    pub fn load(sources: &Sources) -> Result<Self, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml));
        if let Some(path) = &sources.file {
            if !path.is_file() {
                return Err(ConfigError::Load(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
        }
        for text in &sources.inline {
            builder = builder.add_source(File::from_str(text, FileFormat::Toml));
        }
        if sources.environment {
            builder = builder.add_source(
                Environment::with_prefix("SYNC1688")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        let raw: Raw = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        validate(raw, sources.credentials_dir.as_deref())
    }

    pub fn account(&self, name: &str) -> Option<&AccountSettings> {
        self.accounts.iter().find(|a| a.name == name)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn render_redacted(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| format!("{s:?}");
        let _ = writeln!(out, "[database]");
        let _ = writeln!(
            out,
            "url = {}",
            q(&store::redact_url(self.database.url.expose_secret()))
        );
        let _ = writeln!(out, "max_connections = {}", self.database.max_connections);
        let _ = writeln!(
            out,
            "\n[http]\nlisten = {}",
            q(&self.http.listen.to_string())
        );
        let s = &self.sync;
        let _ = writeln!(out, "\n[sync]");
        let _ = writeln!(out, "schedule = {}", q(&s.schedule));
        let _ = writeln!(out, "timezone = {}", q(s.timezone.name()));
        let _ = writeln!(out, "lookback_days = {}", s.lookback_days);
        let _ = writeln!(out, "page_size = {}", s.page_size);
        let _ = writeln!(out, "page_concurrency = {}", s.page_concurrency);
        let _ = writeln!(out, "backfill_chunk_days = {}", s.backfill_chunk_days);
        let _ = writeln!(out, "change_overlap_secs = {}", s.change_overlap.as_secs());
        let _ = writeln!(
            out,
            "change_safety_margin_secs = {}",
            s.change_safety_margin.as_secs()
        );
        let _ = writeln!(out, "keep_runs_days = {}", s.keep_runs_days);
        let d = &self.daemon;
        let _ = writeln!(out, "\n[daemon]");
        let _ = writeln!(
            out,
            "state_dir = {}",
            q(&d.state_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default())
        );
        let _ = writeln!(out, "shutdown_grace_secs = {}", d.shutdown_grace.as_secs());
        let _ = writeln!(out, "lease_ttl_secs = {}", d.lease_ttl.as_secs());
        let _ = writeln!(out, "instance_id = {}", q(&d.instance_id));
        let a = &self.api;
        let _ = writeln!(out, "\n[api]");
        let _ = writeln!(out, "timeout_secs = {}", a.timeout.as_secs());
        let _ = writeln!(out, "max_retries = {}", a.max_retries);
        let _ = writeln!(
            out,
            "retry_min_delay_ms = {}",
            a.retry_min_delay.as_millis()
        );
        let _ = writeln!(
            out,
            "retry_max_delay_ms = {}",
            a.retry_max_delay.as_millis()
        );
        let _ = writeln!(
            out,
            "rate_limit_pause_ms = {}",
            a.rate_limit_pause.as_millis()
        );
        let _ = writeln!(out, "requests_per_second = {}", a.requests_per_second);
        let _ = writeln!(out, "\n[log]\nlevel = {}", q(&self.log.level));
        let format = match self.log.format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        let _ = writeln!(out, "format = {}", q(format));
        for acc in &self.accounts {
            let _ = writeln!(out, "\n[[accounts]]");
            let _ = writeln!(out, "name = {}", q(&acc.name));
            let _ = writeln!(out, "app_key = {}", q(&acc.app_key));
            let _ = writeln!(out, "app_secret = \"(redacted)\"");
            if acc.refresh_token.is_some() {
                let _ = writeln!(out, "refresh_token = \"(redacted)\"");
            }
            let _ = writeln!(out, "api_base = {}", q(&acc.api_base));
            let _ = writeln!(out, "authorize_url = {}", q(&acc.authorize_url));
            let _ = writeln!(out, "redirect_uri = {}", q(&acc.redirect_uri));
            let _ = writeln!(out, "default_warehouse = {}", q(&acc.default_warehouse));
            let _ = writeln!(out, "requests_per_second = {}", acc.requests_per_second);
            let _ = writeln!(out, "schedule = {}", q(&acc.schedule));
        }
        out
    }
}

fn validate(raw: Raw, credentials_dir: Option<&Path>) -> Result<Settings, ConfigError> {
    let url = secret(
        "database.url",
        raw.database.url,
        raw.database.url_file,
        credentials_dir,
        &["database_url"],
    )?
    .unwrap_or_else(|| SecretString::from(DEFAULT_DATABASE_URL));
    store::scheme_of(url.expose_secret()).map_err(|e| {
        let message = e.to_string();
        let message = message
            .strip_prefix("database.url: ")
            .unwrap_or(&message)
            .to_owned();
        ConfigError::invalid("database.url", message)
    })?;
    if raw.database.max_connections == 0 {
        return Err(ConfigError::invalid(
            "database.max_connections",
            "must be at least 1",
        ));
    }

    let listen = raw.http.listen.parse::<SocketAddr>().map_err(|_| {
        ConfigError::invalid(
            "http.listen",
            format!(
                "`{}` is not an address such as 127.0.0.1:8688",
                raw.http.listen
            ),
        )
    })?;

    let timezone = raw.sync.timezone.parse::<Tz>().map_err(|_| {
        ConfigError::invalid(
            "sync.timezone",
            format!("unknown time zone `{}`", raw.sync.timezone),
        )
    })?;
    parse_schedule(&raw.sync.schedule).map_err(|m| ConfigError::invalid("sync.schedule", m))?;
    if !(1..=366).contains(&raw.sync.lookback_days) {
        return Err(ConfigError::invalid(
            "sync.lookback_days",
            "must be between 1 and 366",
        ));
    }
    if !(1..=50).contains(&raw.sync.page_size) {
        return Err(ConfigError::invalid(
            "sync.page_size",
            "must be between 1 and 50 (1688's page cap)",
        ));
    }
    if !(1..=16).contains(&raw.sync.page_concurrency) {
        return Err(ConfigError::invalid(
            "sync.page_concurrency",
            "must be between 1 and 16",
        ));
    }
    if raw.sync.backfill_chunk_days == 0 {
        return Err(ConfigError::invalid(
            "sync.backfill_chunk_days",
            "must be at least 1",
        ));
    }

    if raw.api.timeout_secs == 0 {
        return Err(ConfigError::invalid(
            "api.timeout_secs",
            "must be at least 1",
        ));
    }
    if raw.api.requests_per_second == 0 {
        return Err(ConfigError::invalid(
            "api.requests_per_second",
            "must be at least 1",
        ));
    }
    if raw.api.retry_min_delay_ms > raw.api.retry_max_delay_ms {
        return Err(ConfigError::invalid(
            "api.retry_min_delay_ms",
            "must not exceed api.retry_max_delay_ms",
        ));
    }

    let format = match raw.log.format.as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(ConfigError::invalid(
                "log.format",
                format!("`{other}` is neither \"text\" nor \"json\""),
            ));
        }
    };
    tracing_subscriber::EnvFilter::try_new(&raw.log.level).map_err(|e| {
        ConfigError::invalid(
            "log.level",
            format!("`{}` is not a valid filter: {e}", raw.log.level),
        )
    })?;

    let api_token = secret(
        "http.api_token",
        raw.http.api_token,
        raw.http.api_token_file,
        credentials_dir,
        &["api_token"],
    )?;
    if api_token.is_none() && !listen.ip().is_loopback() {
        return Err(ConfigError::invalid(
            "http.api_token",
            format!(
                "is required when http.listen ({listen}) is not a loopback address: the receiving API must not be open"
            ),
        ));
    }
    let tolerance = raw.receiving.over_receipt_tolerance_percent;
    if tolerance < rust_decimal::Decimal::ZERO || tolerance > rust_decimal::Decimal::ONE_HUNDRED {
        return Err(ConfigError::invalid(
            "receiving.over_receipt_tolerance_percent",
            "must be between 0 and 100",
        ));
    }
    for (key, value) in [
        ("labels.width_mm", raw.labels.width_mm),
        ("labels.height_mm", raw.labels.height_mm),
    ] {
        if !(10.0..=300.0).contains(&value) {
            return Err(ConfigError::invalid(
                key,
                "must be between 10 and 300 millimetres",
            ));
        }
    }
    if raw.daemon.lease_ttl_secs < 5 {
        return Err(ConfigError::invalid(
            "daemon.lease_ttl_secs",
            "must be at least 5",
        ));
    }
    if raw.daemon.shutdown_grace_secs == 0 {
        return Err(ConfigError::invalid(
            "daemon.shutdown_grace_secs",
            "must be at least 1",
        ));
    }
    // The process id keeps owners unique across restarts: a restarted daemon must not
    // share a lease fence with a predecessor that is still hanging.
    let instance_id = if raw.daemon.instance_id.trim().is_empty() {
        default_instance_id()
    } else {
        format!("{}:{}", raw.daemon.instance_id.trim(), std::process::id())
    };

    let mut accounts: Vec<AccountSettings> = Vec::with_capacity(raw.accounts.len());
    for (i, acc) in raw.accounts.into_iter().enumerate() {
        let key = |field: &str| format!("accounts[{i}].{field}");
        let name = acc.name.unwrap_or_default();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ConfigError::invalid(
                key("name"),
                "is required: letters, digits, '-' and '_' only",
            ));
        }
        if accounts.iter().any(|a| a.name == name) {
            return Err(ConfigError::invalid(
                key("name"),
                format!("`{name}` is used by another account"),
            ));
        }
        let app_key = acc.app_key.unwrap_or_default();
        if app_key.is_empty() || !app_key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::invalid(
                key("app_key"),
                "is required: the 1688 app key (letters and digits)",
            ));
        }
        let app_secret = secret(
            &key("app_secret"),
            acc.app_secret,
            acc.app_secret_file,
            credentials_dir,
            &[&format!("app_secret.{name}"), "app_secret"],
        )?
        .ok_or_else(|| {
            ConfigError::invalid(
                key("app_secret"),
                "is required (inline, app_secret_file, or $CREDENTIALS_DIRECTORY)",
            )
        })?;
        let refresh_token = secret(
            &key("refresh_token"),
            acc.refresh_token,
            acc.refresh_token_file,
            credentials_dir,
            &[&format!("refresh_token.{name}"), "refresh_token"],
        )?;
        let authorize_url = acc
            .authorize_url
            .unwrap_or_else(|| REAL_AUTHORIZE_URL.to_owned());
        if !(authorize_url.starts_with("https://") || authorize_url.starts_with("http://")) {
            return Err(ConfigError::invalid(
                key("authorize_url"),
                format!("`{authorize_url}` is not an http(s) URL"),
            ));
        }
        let redirect_uri = acc
            .redirect_uri
            .unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned());
        if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) {
            return Err(ConfigError::invalid(
                key("redirect_uri"),
                format!("`{redirect_uri}` is not an http(s) URL"),
            ));
        }
        let api_base = acc.api_base.unwrap_or_else(|| REAL_API_BASE.to_owned());
        let api_base = api_base.trim_end_matches('/').to_owned();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(ConfigError::invalid(
                key("api_base"),
                format!("`{api_base}` is not an http(s) URL"),
            ));
        }
        let default_warehouse = acc.default_warehouse.unwrap_or_default();
        if default_warehouse.trim().is_empty() {
            return Err(ConfigError::invalid(
                key("default_warehouse"),
                "is required: the warehouse code synced orders land in",
            ));
        }
        let schedule = acc.schedule.unwrap_or_else(|| raw.sync.schedule.clone());
        parse_schedule(&schedule).map_err(|m| ConfigError::invalid(key("schedule"), m))?;
        let requests_per_second = acc
            .requests_per_second
            .unwrap_or(raw.api.requests_per_second);
        if requests_per_second == 0 {
            return Err(ConfigError::invalid(
                key("requests_per_second"),
                "must be at least 1",
            ));
        }
        accounts.push(AccountSettings {
            name,
            app_key,
            app_secret,
            refresh_token,
            api_base,
            authorize_url,
            redirect_uri,
            default_warehouse,
            requests_per_second,
            schedule,
        });
    }

    Ok(Settings {
        database: DatabaseSettings {
            url,
            max_connections: raw.database.max_connections,
        },
        http: HttpSettings {
            listen,
            ready_max_age: (raw.http.ready_max_age_secs > 0)
                .then(|| Duration::from_secs(raw.http.ready_max_age_secs)),
            db_check_cache: Duration::from_secs(raw.http.db_check_cache_secs),
            api_token,
        },
        receiving: ReceivingSettings {
            over_receipt_tolerance_percent: raw.receiving.over_receipt_tolerance_percent,
        },
        labels: LabelSettings {
            width_mm: raw.labels.width_mm,
            height_mm: raw.labels.height_mm,
            font_path: raw.labels.font_path.filter(|p| !p.as_os_str().is_empty()),
        },
        daemon: DaemonSettings {
            state_dir: state_dir(&raw.daemon.state_dir),
            shutdown_grace: Duration::from_secs(raw.daemon.shutdown_grace_secs),
            lease_ttl: Duration::from_secs(raw.daemon.lease_ttl_secs),
            instance_id,
        },
        sync: SyncSettings {
            schedule: raw.sync.schedule,
            timezone,
            lookback_days: raw.sync.lookback_days,
            page_size: raw.sync.page_size,
            page_concurrency: raw.sync.page_concurrency,
            backfill_chunk_days: raw.sync.backfill_chunk_days,
            change_overlap: Duration::from_secs(raw.sync.change_overlap_secs),
            change_safety_margin: Duration::from_secs(raw.sync.change_safety_margin_secs),
            keep_runs_days: raw.sync.keep_runs_days,
        },
        api: ApiSettings {
            timeout: Duration::from_secs(raw.api.timeout_secs),
            max_retries: raw.api.max_retries,
            retry_min_delay: Duration::from_millis(raw.api.retry_min_delay_ms),
            retry_max_delay: Duration::from_millis(raw.api.retry_max_delay_ms),
            rate_limit_pause: Duration::from_millis(raw.api.rate_limit_pause_ms),
            requests_per_second: raw.api.requests_per_second,
        },
        log: LogSettings {
            level: raw.log.level,
            format,
        },
        accounts,
    })
}

/// Parses a cron expression with seconds first (6 fields, or 7 with a year).
pub fn parse_schedule(expression: &str) -> Result<croner::Cron, String> {
    let fields = expression.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(format!(
            "`{expression}` is not a cron expression with seconds first (6 or 7 fields)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .build()
        .parse(expression)
        .map_err(|e| format!("`{expression}` is not a valid cron expression: {e}"))
}

/// The configured state directory, else systemd's `$STATE_DIRECTORY`, else
/// `$XDG_STATE_HOME/sync1688` or `~/.local/state/sync1688`.
fn state_dir(configured: &str) -> Option<PathBuf> {
    if !configured.trim().is_empty() {
        return Some(PathBuf::from(configured.trim()));
    }
    if let Some(dir) = std::env::var_os("STATE_DIRECTORY") {
        // systemd lists several directories separated by colons; ours is the first.
        let first = dir
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_owned();
        if !first.is_empty() {
            return Some(PathBuf::from(first));
        }
    }
    if let Some(xdg) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(xdg).join("sync1688"));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|home| PathBuf::from(home).join(".local/state/sync1688"))
}

/// `hostname:pid`, unique enough among instances sharing a database.
fn default_instance_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

impl AccountSettings {
    /// The time between two runs of this account's schedule (the shortest gap of the next
    /// few), for readiness limits.
    pub fn schedule_period(&self, tz: Tz) -> Duration {
        let Ok(cron) = parse_schedule(&self.schedule) else {
            return Duration::from_secs(900);
        };
        let now = chrono::Utc::now().with_timezone(&tz);
        let times: Vec<_> = cron.iter_after(now).take(4).collect();
        times
            .windows(2)
            .filter_map(|w| (w[1] - w[0]).to_std().ok())
            .min()
            .unwrap_or(Duration::from_secs(900))
    }
}

/// Resolves a secret given inline, as a file, or in the credentials directory (in that
/// order of precedence; inline and file together are ambiguous and refused).
fn secret(
    key: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    credentials_dir: Option<&Path>,
    credential_names: &[&str],
) -> Result<Option<SecretString>, ConfigError> {
    let from_file = |path: &Path, what: &str| -> Result<SecretString, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(
                what,
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })?;
        let value = text.trim();
        if value.is_empty() {
            return Err(ConfigError::invalid(
                what,
                format!("{} is empty", path.display()),
            ));
        }
        Ok(SecretString::from(value.to_owned()))
    };
    match (inline.filter(|s| !s.is_empty()), file) {
        (Some(_), Some(_)) => Err(ConfigError::invalid(
            key,
            format!("give either {key} or {key}_file, not both"),
        )),
        (Some(value), None) => Ok(Some(SecretString::from(value))),
        (None, Some(path)) => from_file(&path, &format!("{key}_file")).map(Some),
        (None, None) => {
            let Some(dir) = credentials_dir else {
                return Ok(None);
            };
            for name in credential_names {
                let path = dir.join(name);
                if path.is_file() {
                    return from_file(&path, key).map(Some);
                }
            }
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = r#"
        [[accounts]]
        name = "main"
        app_key = "1234567"
        app_secret = "very-secret-app-secret"
        refresh_token = "very-secret-refresh-token"
        default_warehouse = "MAIN"
    "#;

    fn load(toml: &str) -> Result<Settings, ConfigError> {
        Settings::load(&Sources::inline(toml))
    }

    #[test]
    fn the_defaults_alone_are_a_valid_configuration() {
        let s = load("").unwrap();
        assert_eq!(s.sync.lookback_days, 3);
        assert_eq!(s.sync.keep_runs_days, 90);
        assert!(s.render_redacted().contains("keep_runs_days = 90"));
        assert_eq!(s.sync.timezone, chrono_tz::Asia::Shanghai);
        assert_eq!(s.http.listen.to_string(), "127.0.0.1:8688");
        assert!(s.accounts.is_empty());
    }

    #[test]
    fn an_account_defaults_to_the_real_gateway() {
        let s = load(ACCOUNT).unwrap();
        assert_eq!(s.accounts[0].api_base, REAL_API_BASE);
        assert_eq!(s.accounts[0].requests_per_second, 5);
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let cases = [
            ("[sync]\ntimezone = \"Asia/Shangai\"", "sync.timezone"),
            ("[sync]\nlookback_days = 0", "sync.lookback_days"),
            ("[sync]\npage_size = 100", "sync.page_size"),
            ("[http]\nlisten = \"localhost\"", "http.listen"),
            ("[database]\nurl = \"mysql://u@h/db\"", "database.url"),
            ("[log]\nformat = \"xml\"", "log.format"),
            ("[sync]\nschedule = \"0 */15 * * *\"", "sync.schedule"),
            ("[sync]\nschedule = \"0 61 * * * *\"", "sync.schedule"),
            ("[daemon]\nlease_ttl_secs = 1", "daemon.lease_ttl_secs"),
            ("[http]\nlisten = \"0.0.0.0:8688\"", "http.api_token"),
            (
                "[receiving]\nover_receipt_tolerance_percent = -1",
                "receiving.over_receipt_tolerance_percent",
            ),
        ];
        for (toml, key) in cases {
            let err = load(toml).unwrap_err().to_string();
            assert!(err.starts_with(key), "{toml}: {err}");
        }
        let err = load("[sync]\nlookback_days = \"three\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lookback_days"), "{err}");
    }

    #[test]
    fn a_missing_secret_names_the_account_key() {
        let err = load("[[accounts]]\nname = \"main\"\napp_key = \"1\"\nrefresh_token = \"r\"\ndefault_warehouse = \"W\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("accounts[0].app_secret"), "{err}");
    }

    #[test]
    fn an_unknown_account_key_is_refused() {
        let err = load(&format!("{ACCOUNT}\napp_sekret = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("app_sekret"), "{err}");
    }

    #[test]
    fn the_database_url_credential_wins_over_the_built_in_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("database_url"),
            "postgres://erp:pw@db/erp\n",
        )
        .unwrap();
        let sources = Sources {
            credentials_dir: Some(dir.path().to_path_buf()),
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.database.url.expose_secret(), "postgres://erp:pw@db/erp");
        assert_eq!(
            load("").unwrap().database.url.expose_secret(),
            DEFAULT_DATABASE_URL
        );
    }

    #[test]
    fn secrets_come_from_the_credentials_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app_secret.main"), "from-credentials\n").unwrap();
        std::fs::write(dir.path().join("refresh_token"), "refresh-from-credentials").unwrap();
        let sources = Sources {
            inline: vec![
                "[[accounts]]\nname = \"main\"\napp_key = \"1\"\ndefault_warehouse = \"W\"".into(),
            ],
            credentials_dir: Some(dir.path().to_path_buf()),
            ..Sources::default()
        };
        let s = Settings::load(&sources).unwrap();
        assert_eq!(s.accounts[0].app_secret.expose_secret(), "from-credentials");
        assert_eq!(
            s.accounts[0]
                .refresh_token
                .as_ref()
                .unwrap()
                .expose_secret(),
            "refresh-from-credentials"
        );
    }

    #[test]
    fn secrets_never_appear_in_the_rendered_or_debug_configuration() {
        let s = load(&format!(
            "[database]\nurl = \"postgres://erp:db-password@h/erp\"\n{ACCOUNT}"
        ))
        .unwrap();
        for text in [s.render_redacted(), format!("{s:?}")] {
            for secret in [
                "very-secret-app-secret",
                "very-secret-refresh-token",
                "db-password",
            ] {
                assert!(!text.contains(secret), "{secret} leaked");
            }
        }
    }
}
