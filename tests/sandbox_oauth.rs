//! Connecting a 1688 account against the sandbox (1688-open-api.md §3): the authorize
//! redirect, the code exchange, refreshing, postponing and revoking, over HTTP.

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use sync1688::api1688::time::parse_1688;
use sync1688::sandbox::{self, SandboxConfig, SandboxHandle};

use support::sandbox_calls::{
    Answer, access_token, authorization_code, authorize, call, connect, exchange_code, oauth,
    postpone, query_param, refresh_with,
};

const CALLBACK: &str = "https://erp.example/1688/callback";
const TRADE: &str = "com.alibaba.trade";
const LIST: &str = "alibaba.trade.getBuyerOrderList";

async fn start() -> SandboxHandle {
    sandbox::start(
        SandboxConfig {
            orders: 0,
            ..SandboxConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("the sandbox starts")
}

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {body}"))
}

fn timeout_of(body: &Value) -> DateTime<Utc> {
    parse_1688(str_of(body, "refresh_token_timeout")).expect("refresh_token_timeout parses")
}

/// About half a year after the sandbox's now.
fn assert_half_a_year_ahead(sb: &SandboxHandle, t: DateTime<Utc>) {
    let left = t - sb.now();
    assert!(
        left > TimeDelta::days(179) && left <= TimeDelta::days(180),
        "{left:?} left"
    );
}

fn assert_oauth_error(a: &Answer, status: u16, error: &str) {
    assert_eq!(
        (a.status, a.oauth_error().as_str()),
        (status, error),
        "{}",
        a.text
    );
    assert!(a.json()["error_description"].is_string(), "{}", a.text);
}

/// Whether `token` opens a business call.
async fn works(sb: &SandboxHandle, token: &str) -> bool {
    let a = call(sb, TRADE, LIST, &[("page", "1")], Some(token)).await;
    assert!(matches!(a.status, 200 | 401), "{} {}", a.status, a.text);
    a.status == 200
}

// ---------------------------------------------------------------------------------
// The authorize page

#[tokio::test]
async fn the_authorize_page_redirects_to_the_callback_with_a_code_and_the_same_state() {
    let sb = start().await;
    let a = authorize(
        &sb,
        &[
            ("client_id", &sb.config().app_key),
            ("site", "1688"),
            ("redirect_uri", CALLBACK),
            ("state", "csrf 42/&"),
        ],
    )
    .await;
    assert_eq!(a.status, 302, "{}", a.text);
    let location = a.location.unwrap();
    assert!(
        location.starts_with(&format!("{CALLBACK}?code=")),
        "{location}"
    );
    let code = query_param(&location, "code").unwrap();
    assert!(code.len() >= 32, "{code}");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some("csrf 42/&")
    );
    assert_eq!(sb.calls("oauth/authorize"), 1);
}

#[tokio::test]
async fn the_authorize_redirect_keeps_the_callbacks_own_query_string() {
    let sb = start().await;
    let callback = "https://erp.example/cb?tenant=7";
    let a = authorize(
        &sb,
        &[
            ("client_id", &sb.config().app_key),
            ("site", "1688"),
            ("redirect_uri", callback),
            ("state", "xyz"),
        ],
    )
    .await;
    let location = a.location.unwrap();
    assert!(
        location.starts_with("https://erp.example/cb?tenant=7&code="),
        "{location}"
    );
    assert_eq!(query_param(&location, "tenant").as_deref(), Some("7"));
    assert_eq!(query_param(&location, "state").as_deref(), Some("xyz"));
}

#[tokio::test]
async fn two_visits_to_the_authorize_page_get_different_codes() {
    let sb = start().await;
    let first = authorization_code(&sb, CALLBACK).await;
    let second = authorization_code(&sb, CALLBACK).await;
    assert_ne!(first, second);
}

#[tokio::test]
async fn an_unknown_client_or_a_missing_redirect_uri_gets_a_400_page_and_no_redirect() {
    let sb = start().await;
    let app_key = sb.config().app_key.clone();
    for query in [
        vec![("client_id", "999"), ("redirect_uri", CALLBACK)],
        vec![("redirect_uri", CALLBACK)],
        vec![("client_id", app_key.as_str()), ("state", "x")],
        vec![("client_id", app_key.as_str()), ("redirect_uri", "")],
    ] {
        let a = authorize(&sb, &query).await;
        assert_eq!(a.status, 400, "{query:?}: {}", a.text);
        assert_eq!(a.location, None);
        assert!(!a.text.is_empty());
    }
    assert_eq!(
        sb.authorize_url_base(),
        format!("http://{}/oauth/authorize", sb.local_addr())
    );
}

// ---------------------------------------------------------------------------------
// The code exchange

#[tokio::test]
async fn a_code_exchange_returns_the_documented_token_answer() {
    let sb = start().await;
    let body = connect(&sb, CALLBACK).await;

    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "access_token",
        "refresh_token",
        "expires_in",
        "refresh_token_timeout",
        "resource_owner",
        "memberId",
        "aliId",
    ] {
        assert!(keys.contains(&key), "no `{key}` in {body}");
    }
    assert_eq!(body["expires_in"], Value::String("36000".into()));
    let refresh_token = str_of(&body, "refresh_token");
    assert_eq!(refresh_token.len(), 36, "UUID-like: {refresh_token}");
    assert_ne!(refresh_token, sb.config().refresh_token);
    assert_eq!(sb.issued_refresh_tokens(), vec![refresh_token.to_owned()]);
    let timeout = str_of(&body, "refresh_token_timeout");
    assert!(
        timeout.ends_with("+0800") && timeout.len() == 22,
        "{timeout}"
    );
    assert_half_a_year_ahead(&sb, timeout_of(&body));
    assert_eq!(
        sb.refresh_token_expiry(refresh_token),
        Some(timeout_of(&body))
    );
    assert!(!str_of(&body, "resource_owner").is_empty());
    assert!(str_of(&body, "memberId").starts_with("b2b-"));
    assert!(str_of(&body, "aliId").chars().all(|c| c.is_ascii_digit()));
    assert!(works(&sb, str_of(&body, "access_token")).await);
}

#[tokio::test]
async fn each_code_exchange_issues_a_new_refresh_token() {
    let sb = start().await;
    let first = connect(&sb, CALLBACK).await;
    let second = connect(&sb, CALLBACK).await;
    assert_ne!(first["refresh_token"], second["refresh_token"]);
    assert_eq!(sb.issued_refresh_tokens().len(), 2);
}

#[tokio::test]
async fn a_code_works_only_once() {
    let sb = start().await;
    let code = authorization_code(&sb, CALLBACK).await;
    assert_eq!(exchange_code(&sb, &code, CALLBACK).await.status, 200);
    assert_oauth_error(
        &exchange_code(&sb, &code, CALLBACK).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_code_older_than_ten_minutes_is_refused() {
    let sb = start().await;
    let code = authorization_code(&sb, CALLBACK).await;
    sb.expire_authorization_codes();
    assert_oauth_error(
        &exchange_code(&sb, &code, CALLBACK).await,
        400,
        "invalid_grant",
    );
    // Codes issued later live their own ten minutes.
    let fresh = authorization_code(&sb, CALLBACK).await;
    assert_eq!(exchange_code(&sb, &fresh, CALLBACK).await.status, 200);
}

#[tokio::test]
async fn a_code_exchanged_with_another_redirect_uri_is_refused_and_spent() {
    let sb = start().await;
    let code = authorization_code(&sb, CALLBACK).await;
    assert_oauth_error(
        &exchange_code(&sb, &code, "https://evil.example/cb").await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &exchange_code(&sb, &code, CALLBACK).await,
        400,
        "invalid_grant",
    );
    assert!(sb.issued_refresh_tokens().is_empty());
}

#[tokio::test]
async fn a_code_from_the_handle_is_bound_to_no_redirect_uri() {
    let sb = start().await;
    let code = sb.issue_authorization_code();
    assert_eq!(
        exchange_code(&sb, &code, "https://anywhere.example/")
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_code_exchange_without_need_refresh_token_issues_no_refresh_token() {
    let sb = start().await;
    let code = authorization_code(&sb, CALLBACK).await;
    let c = sb.config().clone();
    let a = oauth(
        &sb,
        "getToken",
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &c.app_key),
            ("client_secret", &c.app_secret),
            ("redirect_uri", CALLBACK),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert!(body.get("refresh_token_timeout").is_none(), "{body}");
    assert!(works(&sb, str_of(&body, "access_token")).await);
}

#[tokio::test]
async fn a_code_exchange_with_a_wrong_secret_is_invalid_client_and_keeps_the_code() {
    let sb = start().await;
    let code = authorization_code(&sb, CALLBACK).await;
    let a = oauth(
        &sb,
        "getToken",
        &[
            ("grant_type", "authorization_code"),
            ("need_refresh_token", "true"),
            ("client_id", &sb.config().app_key),
            ("client_secret", "wrong"),
            ("redirect_uri", CALLBACK),
            ("code", &code),
        ],
    )
    .await;
    assert_oauth_error(&a, 401, "invalid_client");
    assert_eq!(exchange_code(&sb, &code, CALLBACK).await.status, 200);
}

// ---------------------------------------------------------------------------------
// Refreshing

#[tokio::test]
async fn the_new_refresh_token_refreshes_under_either_field_name() {
    let sb = start().await;
    let connected = connect(&sb, CALLBACK).await;
    let refresh_token = str_of(&connected, "refresh_token");
    for field in ["refresh_token", "refreshToken"] {
        let a = refresh_with(&sb, field, refresh_token).await;
        assert_eq!(a.status, 200, "{field}: {}", a.text);
        let body = a.json();
        assert_ne!(body["access_token"], connected["access_token"]);
        assert_eq!(body["expires_in"], Value::String("36000".into()));
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert_eq!(
            body["refresh_token_timeout"],
            connected["refresh_token_timeout"]
        );
        assert!(str_of(&body, "memberId").starts_with("b2b-"));
        assert!(works(&sb, str_of(&body, "access_token")).await);
    }
}

#[tokio::test]
async fn the_configured_refresh_token_keeps_working_beside_issued_ones() {
    let sb = start().await;
    connect(&sb, CALLBACK).await;
    let configured = sb.config().refresh_token.clone();
    let a = refresh_with(&sb, "refresh_token", &configured).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_half_a_year_ahead(&sb, timeout_of(&a.json()));
}

#[tokio::test]
async fn an_expired_refresh_token_gets_invalid_grant() {
    let sb = start().await;
    let connected = connect(&sb, CALLBACK).await;
    let refresh_token = str_of(&connected, "refresh_token");
    sb.set_refresh_token_expiry(refresh_token, sb.now() - TimeDelta::seconds(1));
    assert_oauth_error(
        &refresh_with(&sb, "refresh_token", refresh_token).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &postpone(&sb, refresh_token, str_of(&connected, "access_token")).await,
        400,
        "invalid_grant",
    );
}

#[tokio::test]
async fn an_unknown_refresh_token_gets_invalid_grant() {
    let sb = start().await;
    let token = access_token(&sb).await;
    assert_oauth_error(
        &refresh_with(&sb, "refreshToken", "527bc519-0000-4000-8000-000000000000").await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &postpone(&sb, "made-up", &token).await,
        400,
        "invalid_grant",
    );
}

// ---------------------------------------------------------------------------------
// Postponing

#[tokio::test]
async fn postpone_is_refused_while_more_than_30_days_are_left() {
    let sb = start().await;
    let connected = connect(&sb, CALLBACK).await;
    let refresh_token = str_of(&connected, "refresh_token");
    sb.set_refresh_token_expiry(refresh_token, sb.now() + TimeDelta::days(31));
    let a = postpone(&sb, refresh_token, str_of(&connected, "access_token")).await;
    assert_oauth_error(&a, 400, "invalid_request");
    assert!(
        a.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("more than 30 days left"),
        "{}",
        a.text
    );
    assert_eq!(sb.calls("system.oauth2/postponeToken"), 1);
    // Nothing changed: the token still refreshes.
    assert_eq!(
        refresh_with(&sb, "refresh_token", refresh_token)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn postpone_under_30_days_issues_a_new_refresh_token_and_the_old_one_dies() {
    let sb = start().await;
    let connected = connect(&sb, CALLBACK).await;
    let old = str_of(&connected, "refresh_token");
    let access_token = str_of(&connected, "access_token");
    sb.set_refresh_token_expiry(old, sb.now() + TimeDelta::days(29));

    let a = postpone(&sb, old, access_token).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body = a.json();
    let new = str_of(&body, "refresh_token");
    assert_ne!(new, old);
    assert_eq!(body["expires_in"], Value::String("36000".into()));
    assert!(str_of(&body, "memberId").starts_with("b2b-"));
    assert!(body["aliId"].is_string() && body["resource_owner"].is_string());
    assert_half_a_year_ahead(&sb, timeout_of(&body));
    assert_eq!(
        sb.issued_refresh_tokens(),
        vec![old.to_owned(), new.to_owned()]
    );

    assert_oauth_error(
        &refresh_with(&sb, "refresh_token", old).await,
        400,
        "invalid_grant",
    );
    assert_oauth_error(
        &postpone(&sb, old, access_token).await,
        400,
        "invalid_grant",
    );
    let refreshed = refresh_with(&sb, "refreshToken", new).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(
        refreshed.json()["refresh_token_timeout"],
        body["refresh_token_timeout"]
    );
    // Postponing keeps the authorisation: its access tokens go on working.
    assert!(works(&sb, access_token).await);
    assert!(works(&sb, str_of(&body, "access_token")).await);
}

#[tokio::test]
async fn postpone_without_a_live_access_token_is_the_gateways_401() {
    let sb = start().await;
    let connected = connect(&sb, CALLBACK).await;
    let refresh_token = str_of(&connected, "refresh_token");
    sb.set_refresh_token_expiry(refresh_token, sb.now() + TimeDelta::days(10));
    let a = postpone(&sb, refresh_token, "not-a-token").await;
    assert_eq!(
        (a.status, a.error_code().as_str()),
        (401, "401"),
        "{}",
        a.text
    );
    // Refused before anything changed.
    assert_eq!(
        refresh_with(&sb, "refresh_token", refresh_token)
            .await
            .status,
        200
    );
}

// ---------------------------------------------------------------------------------
// Revoking

#[tokio::test]
async fn a_revoked_refresh_token_gets_invalid_grant_and_its_access_tokens_401() {
    let sb = start().await;
    let connected = connect(&sb, CALLBACK).await;
    let refresh_token = str_of(&connected, "refresh_token");
    let first = str_of(&connected, "access_token").to_owned();
    let refreshed = refresh_with(&sb, "refresh_token", refresh_token)
        .await
        .json();
    let second = str_of(&refreshed, "access_token").to_owned();
    let unrelated = access_token(&sb).await;
    assert!(works(&sb, &first).await && works(&sb, &second).await);

    sb.revoke_refresh_token(refresh_token);

    assert_oauth_error(
        &refresh_with(&sb, "refresh_token", refresh_token).await,
        400,
        "invalid_grant",
    );
    sb.set_refresh_token_expiry(refresh_token, sb.now() + TimeDelta::days(5));
    assert_oauth_error(
        &postpone(&sb, refresh_token, &unrelated).await,
        400,
        "invalid_grant",
    );
    assert!(!works(&sb, &first).await);
    assert!(!works(&sb, &second).await);
    // Another authorisation is untouched.
    assert!(works(&sb, &unrelated).await);
}
