//! Connecting a 1688 account: the authorization flow, token storage and token lifetime.

#[macro_use]
mod support;

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use secrecy::ExposeSecret;
use support::TestDb;
use support::app::config_toml;
use sync1688::accounts::{ConnectError, Connection};
use sync1688::api1688::token_store::TokenStore;
use sync1688::app::{Application, RunOnceOptions};
use sync1688::config::{Settings, Sources};
use sync1688::daemon::Daemon;
use sync1688::sandbox::{self, SandboxConfig, SandboxHandle};
use tokio_util::sync::CancellationToken;

on_both_backends!(
    an_account_connects_through_the_loopback_listener_and_keeps_its_token_privately,
    an_account_connects_through_a_pasted_redirect,
    an_expiring_refresh_token_is_postponed_once_and_the_new_one_is_used,
);

/// A sandbox, and settings whose account `main` authorizes against it with a redirect to
/// `redirect_uri`; tokens go to `state_dir`.
struct Setup {
    db: TestDb,
    sandbox: SandboxHandle,
    config: SandboxConfig,
    state_dir: tempfile::TempDir,
}

async fn setup(db: TestDb) -> Setup {
    support::init_logging();
    let config = SandboxConfig {
        orders: 10,
        days: 2,
        ..SandboxConfig::default()
    };
    let sandbox = sandbox::start(config.clone(), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    Setup {
        db,
        sandbox,
        config,
        state_dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn settings(&self, redirect_uri: &str) -> Settings {
        let mut toml = config_toml(self.db.url(), &self.config, &self.sandbox.base_url());
        toml.push_str(&format!(
            "authorize_url = \"{}\"\nredirect_uri = \"{redirect_uri}\"\n",
            self.sandbox.authorize_url_base()
        ));
        let state = format!(
            "[daemon]\nstate_dir = \"{}\"\n",
            self.state_dir.path().display()
        );
        // A later layer: the state directory is this test's own.
        Settings::load(&Sources {
            inline: vec![toml, state],
            ..Sources::default()
        })
        .unwrap()
    }

    fn store(&self) -> TokenStore {
        TokenStore::new(self.state_dir.path())
    }
}

/// A browser that does not follow redirects: returns where 1688 sends it.
async fn authorize(url: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = client.get(url).send().await.unwrap();
    assert_eq!(
        response.status().as_u16(),
        302,
        "the authorize page redirects"
    );
    response.headers()["location"].to_str().unwrap().to_owned()
}

async fn an_account_connects_through_the_loopback_listener_and_keeps_its_token_privately(
    db: TestDb,
) {
    let s = setup(db).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_uri = format!("http://{}/callback", listener.local_addr().unwrap());
    let app = Application::build(s.settings(&redirect_uri)).await.unwrap();
    let connection = Connection::begin(app.settings().account("main").unwrap());

    let waiting = {
        let connection = connection.clone();
        tokio::spawn(async move {
            connection
                .receive_on(listener, Duration::from_secs(10))
                .await
        })
    };
    // The browser follows 1688's redirect to the loopback listener.
    let page = reqwest::get(connection.url()).await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("authorized"));
    let code = waiting.await.unwrap().unwrap();
    let grant = connection
        .finish(&app.client("main").unwrap(), &code)
        .await
        .unwrap();

    assert_eq!(
        grant.member_id.as_deref().map(|m| m.starts_with("b2b-")),
        Some(true)
    );
    assert!(grant.resource_owner.is_some());
    let expires = grant
        .refresh_token_expires_at
        .expect("1688 says when the refresh token expires");
    assert!(expires > Utc::now() + TimeDelta::days(100));
    let stored = s.store().load("main").unwrap().expect("the token is kept");
    assert!(
        s.sandbox
            .issued_refresh_tokens()
            .contains(&stored.refresh_token.expose_secret().to_owned())
    );
    assert_ne!(
        stored.refresh_token.expose_secret(),
        s.config.refresh_token,
        "the new token, not the configured one"
    );
    assert_eq!(stored.refresh_token_expires_at, Some(expires));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.store().path("main"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let file = std::fs::read_to_string(s.store().path("main")).unwrap();
    for access in s.sandbox.issued_access_tokens() {
        assert!(!file.contains(&access), "no access token is written down");
    }
    // The daemon's next start uses the stored token, and it works.
    let again = Application::build(s.settings(&redirect_uri)).await.unwrap();
    let status = again.client("main").unwrap().token_status().await;
    assert_eq!(status.refresh_token_expires_at, Some(expires));
    let reports = again.run_once(&RunOnceOptions::default()).await.unwrap();
    assert!(reports.iter().all(|r| r.succeeded()), "{reports:?}");
}

async fn an_account_connects_through_a_pasted_redirect(db: TestDb) {
    let s = setup(db).await;
    let app = Application::build(s.settings("http://127.0.0.1:9/callback"))
        .await
        .unwrap();
    let account = app.settings().account("main").unwrap();
    let connection = Connection::begin(account);

    let redirected = authorize(connection.url()).await;
    let forged = redirected.replace("state=", "state=0");
    let refused = connection.code_from_pasted(&forged);
    let code = connection.code_from_pasted(&redirected).unwrap();
    connection
        .finish(&app.client("main").unwrap(), &code)
        .await
        .unwrap();

    assert!(
        matches!(refused, Err(ConnectError::WrongState { .. })),
        "{refused:?}"
    );
    let status = app.client("main").unwrap().token_status().await;
    assert!(status.connected && status.resource_owner.is_some() && status.refused.is_none());
    // A code works once.
    let reused = connection.finish(&app.client("main").unwrap(), &code).await;
    assert!(
        matches!(reused, Err(ConnectError::Exchange(_))),
        "{reused:?}"
    );
}

async fn an_expiring_refresh_token_is_postponed_once_and_the_new_one_is_used(db: TestDb) {
    let s = setup(db).await;
    s.sandbox.set_refresh_token_expiry(
        &s.config.refresh_token,
        s.sandbox.now() + TimeDelta::days(10),
    );
    let app = Application::build(s.settings("http://127.0.0.1:9/callback"))
        .await
        .unwrap();

    let first = app.run_once(&RunOnceOptions::default()).await.unwrap();
    assert!(first.iter().all(|r| r.succeeded()), "{first:?}");
    assert_eq!(s.sandbox.calls("system.oauth2/postponeToken"), 1);
    let stored = s.store().load("main").unwrap().unwrap();
    let new_token = stored.refresh_token.expose_secret().to_owned();
    assert_ne!(new_token, s.config.refresh_token);
    assert!(stored.refresh_token_expires_at.unwrap() > Utc::now() + TimeDelta::days(100));

    // The old token is dead now; the next access token comes from the new one.
    s.sandbox.expire_access_tokens();
    let second = app.run_once(&RunOnceOptions::default()).await.unwrap();
    assert!(second.iter().all(|r| r.succeeded()), "{second:?}");
    assert_eq!(
        s.sandbox.calls("system.oauth2/postponeToken"),
        1,
        "postponed once"
    );
    // A restarted process picks the stored token, not the dead configured one.
    let restarted = Application::build(s.settings("http://127.0.0.1:9/callback"))
        .await
        .unwrap();
    let third = restarted
        .run_once(&RunOnceOptions::default())
        .await
        .unwrap();
    assert!(third.iter().all(|r| r.succeeded()), "{third:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_state_at_the_loopback_listener_is_refused_and_the_wait_goes_on() {
    let s = setup(TestDb::sqlite()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = s.settings(&format!("http://{addr}/callback"));
    let connection = Connection::begin(settings.account("main").unwrap());

    let waiting = {
        let connection = connection.clone();
        tokio::spawn(async move {
            connection
                .receive_on(listener, Duration::from_millis(800))
                .await
        })
    };
    let forged = reqwest::get(format!("http://{addr}/callback?code=stolen&state=forged"))
        .await
        .unwrap();

    assert_eq!(forged.status().as_u16(), 400);
    assert!(matches!(
        waiting.await.unwrap(),
        Err(ConnectError::Timeout(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_refresh_token_stops_only_its_account_and_readyz_names_it() {
    support::init_logging();
    let db = TestDb::postgres().await;
    let state_dir = tempfile::tempdir().unwrap();
    let mut sandboxes = Vec::new();
    let mut toml = format!(
        "[database]\nurl = \"{}\"\n{}\n[http]\nlisten = \"127.0.0.1:0\"\n[sync]\nschedule = \"* * * * * *\"\n\
         [daemon]\nstate_dir = \"{}\"\n",
        db.url(),
        support::app::FAST_API,
        state_dir.path().display()
    );
    for (name, seed) in [("revoked", 31), ("healthy", 32)] {
        let config = SandboxConfig {
            orders: 10,
            days: 2,
            seed,
            ..SandboxConfig::default()
        };
        let handle = sandbox::start(config.clone(), ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        let account = config_toml(db.url(), &config, &handle.base_url());
        toml.push_str(
            &account[account.find("[[accounts]]").unwrap()..]
                .replace("\"main\"", &format!("\"{name}\"")),
        );
        sandboxes.push((config, handle));
    }
    let (revoked_config, revoked) = &sandboxes[0];
    revoked.revoke_refresh_token(&revoked_config.refresh_token);
    let app = Application::build(Settings::load(&Sources::inline(toml)).unwrap())
        .await
        .unwrap();
    let daemon = Daemon::bind(app).await.unwrap();
    let addr = daemon.local_addr();
    let stop = CancellationToken::new();
    let task = tokio::spawn({
        let stop = stop.clone();
        async move { daemon.run_until_stopped(stop).await.unwrap() }
    });

    tokio::time::sleep(Duration::from_secs(4)).await;
    let readyz = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    let status = readyz.status().as_u16();
    let body = readyz.text().await.unwrap();
    stop.cancel();
    task.await.unwrap();

    assert_eq!(status, 503, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let reason = json["accounts"]["revoked"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.contains("sync1688 accounts connect --account revoked"),
        "{body}"
    );
    assert_eq!(json["accounts"]["healthy"]["status"], "pass", "{body}");
    let healthy_orders = db
        .scalar::<i64>("SELECT COUNT(*) FROM purchase_orders WHERE account = 'healthy'")
        .await;
    assert!(healthy_orders > 0);
    assert!(
        revoked.calls("system.oauth2/getToken") <= 1,
        "a refused token is not tried again and again ({} calls)",
        revoked.calls("system.oauth2/getToken")
    );
    for token in [&revoked_config.refresh_token, &sandboxes[1].0.refresh_token] {
        assert!(!body.contains(token.as_str()));
    }
}
