//! The binary as an operator meets it: exit statuses, messages, and what never appears in
//! its output.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::TestDb;
use sync1688::sandbox::{self, SandboxConfig};

fn sync1688(config: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sync1688"));
    cmd.arg("--config").arg(config).args(args);
    cmd.env_remove("SYNC1688_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("CREDENTIALS_DIRECTORY");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("the binary runs")
}

/// A sandbox, a SQLite database, and a configuration file in `dir` that points at both.
struct Setup {
    db: TestDb,
    sandbox: sandbox::SandboxHandle,
    sandbox_config: SandboxConfig,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

async fn setup(sandbox_config: SandboxConfig) -> Setup {
    let db = TestDb::sqlite();
    let sandbox = sandbox::start(sandbox_config.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync1688.toml");
    std::fs::write(
        &config,
        support::app::config_toml(db.url(), &sandbox_config, &sandbox.base_url()),
    )
    .unwrap();
    Setup {
        db,
        sandbox,
        sandbox_config,
        dir,
        config,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_bad_config_exits_78_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync1688.toml");
    std::fs::write(&config, "[sync]\ntimezone = \"Mars/Olympus_Mons\"\n").unwrap();

    let out = sync1688(&config, &["check-config"], &[]);

    assert_eq!(out.status.code(), Some(78));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sync.timezone") && stderr.contains("Mars/Olympus_Mons"),
        "{stderr}"
    );
}

#[test]
fn an_environment_variable_overrides_the_file_and_check_config_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync1688.toml");
    std::fs::write(
        &config,
        "[[accounts]]\nname = \"main\"\napp_key = \"1234567\"\napp_secret = \"app-secret-value\"\n\
         refresh_token = \"refresh-token-value\"\ndefault_warehouse = \"MAIN\"\n",
    )
    .unwrap();

    let out = sync1688(
        &config,
        &["check-config"],
        &[
            ("SYNC1688__SYNC__LOOKBACK_DAYS", "5"),
            (
                "SYNC1688__DATABASE__URL",
                "postgres://erp:db-password-value@db.internal/erp",
            ),
        ],
    );

    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("lookback_days = 5"), "{stdout}");
    assert!(stdout.contains("erp:***@db.internal/erp"), "{stdout}");
    for secret in [
        "app-secret-value",
        "refresh-token-value",
        "db-password-value",
    ] {
        assert!(
            !stdout.contains(secret) && !text(&out.stderr).contains(secret),
            "{secret} leaked"
        );
    }
}

#[tokio::test]
async fn a_bad_csv_row_is_named_by_its_line_and_nothing_from_the_file_is_written() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sync1688.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", db.url())).unwrap();
    let csv = dir.path().join("skus.csv");
    std::fs::write(
        &csv,
        "sku,gtin,name\nGOOD-1,,Good\nGOOD-2,4006381333932,Bad check digit\nGOOD-3,,Good too\n",
    )
    .unwrap();

    let out = tokio::task::spawn_blocking(move || {
        sync1688(&config, &["skus", "import", csv.to_str().unwrap()], &[])
    })
    .await
    .unwrap();

    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("4006381333932"),
        "{stderr}"
    );
    assert_eq!(
        db.scalar::<i64>("SELECT COUNT(*) FROM merchant_skus").await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debug_level_run_logs_no_secret() {
    let Setup {
        db: _db,
        sandbox: handle,
        sandbox_config,
        dir: _dir,
        config,
    } = setup(SandboxConfig {
        orders: 60,
        days: 2,
        app_secret: "app-secret-must-not-leak".into(),
        refresh_token: "refresh-token-must-not-leak".into(),
        ..SandboxConfig::default()
    })
    .await;
    // Expire the first token mid-run so that a refresh happens too.
    handle.push_faults([sandbox::Fault::Unauthorized]);

    let out = tokio::task::spawn_blocking(move || {
        sync1688(&config, &["run", "--once"], &[("RUST_LOG", "debug")])
    })
    .await
    .unwrap();

    let logs = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{logs}");
    assert!(
        logs.contains("sync run succeeded"),
        "the run logged at debug level: {logs}"
    );
    assert!(
        logs.contains("refreshing it once"),
        "a token refresh happened: {logs}"
    );
    let mut secrets = vec![
        sandbox_config.app_secret.clone(),
        sandbox_config.refresh_token.clone(),
    ];
    secrets.extend(handle.issued_access_tokens());
    assert!(secrets.len() >= 4, "two access tokens were issued");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret leaked into the logs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_accounts_lease_cursor_and_latest_runs() {
    let Setup {
        db: _db,
        sandbox: _handle,
        sandbox_config: _sandbox_config,
        dir: _dir,
        config,
    } = setup(SandboxConfig {
        orders: 20,
        days: 2,
        ..SandboxConfig::default()
    })
    .await;

    let out = tokio::task::spawn_blocking(move || {
        let run = sync1688(&config, &["run", "--once"], &[]);
        assert!(run.status.success(), "{}", text(&run.stderr));
        sync1688(&config, &["status"], &[])
    })
    .await
    .unwrap();

    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("main (schedule \"0 */15 * * * *\""),
        "{stdout}"
    );
    assert!(stdout.contains("lease          free"), "{stdout}");
    assert!(
        stdout.contains("changes since  (not tracked yet)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("window   succeeded seen 20 inserted 20"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_import_prints_every_rows_outcome_and_fails_when_one_row_fails() {
    let Setup {
        db: _db,
        sandbox: handle,
        sandbox_config: _sandbox_config,
        dir,
        config,
    } = setup(SandboxConfig {
        orders: 10,
        days: 2,
        ..SandboxConfig::default()
    })
    .await;
    let good = handle.product_ids()[0];
    let offers = dir.path().join("offers.txt");
    std::fs::write(
        &offers,
        format!("{good}\nhttps://example.com/offer/1.html\n"),
    )
    .unwrap();

    let (import, set, unmapped) = tokio::task::spawn_blocking(move || {
        let import = sync1688(
            &config,
            &[
                "products",
                "import",
                "--account",
                "main",
                offers.to_str().unwrap(),
            ],
            &[],
        );
        let set = sync1688(
            &config,
            &["mappings", "set", &good.to_string(), "-", "NO-SUCH-SKU"],
            &[],
        );
        let unmapped = sync1688(&config, &["mappings", "unmapped"], &[]);
        (import, set, unmapped)
    })
    .await
    .unwrap();

    assert_eq!(import.status.code(), Some(1));
    let stdout = text(&import.stdout);
    assert!(
        stdout.contains(&format!("line 1: {good}: added")),
        "{stdout}"
    );
    assert!(
        stdout.contains("line 2: https://example.com/offer/1.html: failed"),
        "{stdout}"
    );
    assert!(text(&import.stderr).contains("1 of 2 rows failed"));
    assert_eq!(set.status.code(), Some(1));
    assert!(
        text(&set.stderr).contains("NO-SUCH-SKU"),
        "{}",
        text(&set.stderr)
    );
    assert!(unmapped.status.success());
    assert!(text(&unmapped.stdout).contains("no line waits on a mapping"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_connect_with_a_pasted_redirect_logs_no_token_or_code() {
    use std::io::{BufRead, BufReader, Write};
    let Setup {
        db: _db,
        sandbox,
        sandbox_config: _sandbox_config,
        dir: _dir,
        config,
    } = setup(SandboxConfig {
        orders: 5,
        days: 2,
        ..SandboxConfig::default()
    })
    .await;
    let mut text_config = std::fs::read_to_string(&config).unwrap();
    text_config.push_str(&format!(
        "authorize_url = \"{}\"\nredirect_uri = \"http://127.0.0.1:9/callback\"\n",
        sandbox.authorize_url_base()
    ));
    std::fs::write(&config, text_config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sync1688"))
        .arg("--config")
        .arg(&config)
        .args(["accounts", "connect", "--account", "main"])
        .env_remove("SYNC1688_CONFIG")
        .env("RUST_LOG", "debug")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let (url, mut printed) = tokio::task::spawn_blocking(move || {
        let mut printed = String::new();
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "no URL printed: {printed}"
            );
            printed.push_str(&line);
            if let Some(url) = line.trim().strip_prefix("http") {
                return (format!("http{url}"), (printed, stdout));
            }
        }
    })
    .await
    .unwrap();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let redirected = browser.get(&url).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    let code = redirected
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{redirected}").unwrap();
    drop(stdin);
    let out = tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut printed.1, &mut rest).unwrap();
        printed.0.push_str(&rest);
        (printed.0, child.wait_with_output().unwrap())
    })
    .await
    .unwrap();
    let (stdout_text, output) = out;
    let everything = format!("{stdout_text}{}", text(&output.stderr));

    assert!(output.status.success(), "{everything}");
    assert!(stdout_text.contains("Connected `main`"), "{everything}");
    let mut secrets = sandbox.issued_refresh_tokens();
    secrets.extend(sandbox.issued_access_tokens());
    secrets.push(code);
    secrets.push(sandbox.config().app_secret.clone());
    assert!(secrets.len() >= 4);
    for secret in &secrets {
        assert!(
            !everything.contains(secret.as_str()),
            "a token or the code leaked: {everything}"
        );
    }
}
