//! OAuth as the sandbox plays it (1688-open-api.md §3).
//!
//! One buyer authorises the app. Each authorisation is a *grant*: the access tokens
//! and the refresh token it produced. The configured [`SandboxConfig::refresh_token`]
//! is a grant that exists from the start; every code exchange opens a new one.
//!
//! - Authorization codes are random, single use (a code presented to `getToken` is
//!   spent, whether the exchange succeeds or not), live [`CODE_TTL`] on the sandbox
//!   clock, and are bound to the `redirect_uri` they were issued for.
//! - Refresh tokens carry their own expiry, `refresh_token_ttl_days` after issue. One
//!   can be postponed (`system.oauth2/postponeToken`) only in its last
//!   [`POSTPONE_WINDOW_DAYS`] days; that replaces it with a new one and the old one
//!   stops working. Postponing keeps the grant, so its access tokens keep working.
//! - Revoking a refresh token (a test knob, as if the buyer withdrew the app's
//!   authorisation) kills it and every access token of its grant.
//!
//! Token errors use the OAuth 2 shape `{"error": …, "error_description": …}`:
//! `invalid_client` (HTTP 401) for a wrong `client_id`/`client_secret`,
//! `invalid_grant` (HTTP 400) for an unknown, expired, revoked or replaced refresh
//! token and for an unknown, expired, spent or mis-bound authorization code,
//! `invalid_request` (HTTP 400) for a missing field or a postpone that comes too early,
//! and `unsupported_grant_type` (HTTP 400). The real gateway's shape is not documented;
//! a client should read both this and the gateway's `error_code` shape.
//!
//! Nothing here logs a token, a code or a secret.
//!
//! [`SandboxConfig::refresh_token`]: super::SandboxConfig::refresh_token

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::orders::BUYER;
use super::params::{Params, encode};
use super::rng::SplitMix64;
use super::server::{Reply, Shared, unauthenticated};
use crate::api1688::time::format_1688;

/// How long an authorization code lives ([X4] says to use it within 10 minutes).
pub(crate) const CODE_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// A refresh token can be postponed only when it has less than this many days left
/// ([X6]).
pub(crate) const POSTPONE_WINDOW_DAYS: i64 = 30;

/// An authorisation of the app by the buyer.
type GrantId = u64;

#[derive(Debug)]
struct Code {
    expires: DateTime<Utc>,
    /// The `redirect_uri` of the authorize request; `None` for codes a test asked for
    /// directly, which any (or no) `redirect_uri` may exchange.
    redirect_uri: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshState {
    Live,
    /// Replaced by `postponeToken`.
    Replaced,
    Revoked,
}

#[derive(Debug)]
struct RefreshToken {
    expires: DateTime<Utc>,
    state: RefreshState,
    grant: GrantId,
}

#[derive(Debug)]
struct AccessToken {
    expires: Instant,
    grant: GrantId,
}

/// Issued access tokens, refresh tokens and authorization codes.
#[derive(Debug)]
pub(crate) struct Tokens {
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    codes: HashMap<String, Code>,
    next_grant: GrantId,
    /// Every access token ever issued, for tests that check none leaks into logs.
    issued: Vec<String>,
    /// Every refresh token the sandbox issued (not the configured one), likewise.
    issued_refresh: Vec<String>,
    rng: SplitMix64,
}

/// Why a refresh token is refused.
fn refresh_refusal(token: Option<&RefreshToken>, now: DateTime<Utc>) -> Option<&'static str> {
    match token {
        None => Some("refresh_token is invalid"),
        Some(t) if t.state == RefreshState::Revoked => Some("refresh_token has been revoked"),
        Some(t) if t.state == RefreshState::Replaced => {
            Some("refresh_token has been replaced by postponeToken")
        }
        Some(t) if t.expires <= now => Some("refresh_token has expired"),
        Some(_) => None,
    }
}

impl Tokens {
    /// The configured refresh token is the first grant, valid until `expires`.
    pub(crate) fn new(configured_refresh_token: &str, expires: DateTime<Utc>) -> Self {
        // Tokens must differ between runs and calls; nothing else depends on them.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        let mut refresh = HashMap::new();
        refresh.insert(
            configured_refresh_token.to_owned(),
            RefreshToken {
                expires,
                state: RefreshState::Live,
                grant: 0,
            },
        );
        Tokens {
            access: HashMap::new(),
            refresh,
            codes: HashMap::new(),
            next_grant: 1,
            issued: Vec::new(),
            issued_refresh: Vec::new(),
            rng: SplitMix64::new(nanos ^ (std::process::id() as u64).rotate_left(32)),
        }
    }

    fn uuid(&mut self) -> String {
        let h = self.rng.hex(32);
        format!(
            "{}-{}-4{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[16..20],
            &h[20..32]
        )
    }

    fn new_grant(&mut self) -> GrantId {
        let grant = self.next_grant;
        self.next_grant += 1;
        grant
    }

    fn issue_access(&mut self, grant: GrantId, ttl: Duration) -> String {
        let now = Instant::now();
        self.access.retain(|_, t| t.expires > now);
        let token = self.uuid();
        self.access.insert(
            token.clone(),
            AccessToken {
                expires: now + ttl,
                grant,
            },
        );
        self.issued.push(token.clone());
        token
    }

    fn issue_refresh(&mut self, grant: GrantId, expires: DateTime<Utc>) -> String {
        let token = self.uuid();
        self.refresh.insert(
            token.clone(),
            RefreshToken {
                expires,
                state: RefreshState::Live,
                grant,
            },
        );
        self.issued_refresh.push(token.clone());
        token
    }

    pub(crate) fn issue_code(&mut self, now: DateTime<Utc>, redirect_uri: Option<&str>) -> String {
        self.codes.retain(|_, c| c.expires > now);
        let code = self.uuid();
        self.codes.insert(
            code.clone(),
            Code {
                expires: now + CODE_TTL,
                redirect_uri: redirect_uri.map(str::to_owned),
            },
        );
        code
    }

    /// Codes are single-use: presenting one spends it, whatever the outcome.
    fn take_code(
        &mut self,
        code: &str,
        redirect_uri: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), &'static str> {
        let Some(c) = self.codes.remove(code) else {
            return Err("code is invalid or already used");
        };
        if c.expires <= now {
            return Err("code has expired");
        }
        match c.redirect_uri {
            Some(bound) if Some(bound.as_str()) != redirect_uri => {
                Err("redirect_uri does not match the one the code was issued for")
            }
            _ => Ok(()),
        }
    }

    /// Every outstanding code is now past its lifetime.
    pub(crate) fn expire_codes(&mut self, now: DateTime<Utc>) {
        for c in self.codes.values_mut() {
            c.expires = c.expires.min(now);
        }
    }

    /// The live refresh token's grant and expiry, or why it is refused.
    fn live_refresh(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(GrantId, DateTime<Utc>), &'static str> {
        let t = self.refresh.get(token);
        match refresh_refusal(t, now) {
            Some(why) => Err(why),
            None => t
                .map(|t| (t.grant, t.expires))
                .ok_or("refresh_token is invalid"),
        }
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    pub(crate) fn issued_refresh(&self) -> Vec<String> {
        self.issued_refresh.clone()
    }

    pub(crate) fn expire_all(&mut self) {
        self.access.clear();
    }

    /// The expiry of a refresh token the sandbox knows, dead or alive.
    pub(crate) fn refresh_expiry(&self, token: &str) -> Option<DateTime<Utc>> {
        self.refresh.get(token).map(|t| t.expires)
    }

    pub(crate) fn set_refresh_expiry(&mut self, token: &str, at: DateTime<Utc>) -> bool {
        match self.refresh.get_mut(token) {
            Some(t) => {
                t.expires = at;
                true
            }
            None => false,
        }
    }

    /// Kills the refresh token and every access token of its grant.
    pub(crate) fn revoke_refresh(&mut self, token: &str) -> bool {
        let Some(t) = self.refresh.get_mut(token) else {
            return false;
        };
        t.state = RefreshState::Revoked;
        let grant = t.grant;
        self.access.retain(|_, a| a.grant != grant);
        true
    }
}

pub(crate) fn token_is_valid(shared: &Shared, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    shared
        .lock()
        .tokens
        .access
        .get(token)
        .is_some_and(|t| t.expires > Instant::now())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn invalid_grant(description: &str) -> Reply {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", description)
}

fn invalid_request(description: &str) -> Reply {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn check_client(shared: &Shared, p: &Params) -> Result<(), Reply> {
    let (Some(id), Some(secret)) = (p.get("client_id"), p.get("client_secret")) else {
        return Err(invalid_request("client_id and client_secret are required"));
    };
    if id != shared.config.app_key || secret != shared.config.app_secret {
        return Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id or client_secret is wrong",
        ));
    }
    Ok(())
}

/// The PHP SDK calls the field `refreshToken`, other clients `refresh_token`.
fn refresh_token_param(p: &Params) -> Option<&str> {
    p.get("refresh_token").or_else(|| p.get("refreshToken"))
}

fn refresh_ttl(shared: &Shared) -> chrono::TimeDelta {
    chrono::TimeDelta::days(i64::from(shared.config.refresh_token_ttl_days))
}

/// The expiry of the configured refresh token: `refresh_token_ttl_days` after the
/// sandbox clock's start.
pub(crate) fn configured_refresh_expiry(
    config: &super::SandboxConfig,
    anchor: DateTime<Utc>,
) -> DateTime<Utc> {
    anchor + chrono::TimeDelta::days(i64::from(config.refresh_token_ttl_days))
}

/// A token answer: a new access token of `grant`, the buyer, and the refresh token
/// (only when `new_refresh_token` is given) and its expiry (when there is one).
fn token_answer(
    shared: &Shared,
    grant: GrantId,
    new_refresh_token: Option<&str>,
    refresh_expires: Option<DateTime<Utc>>,
) -> Reply {
    let ttl = Duration::from_secs(shared.config.access_token_ttl_secs);
    let access_token = shared.lock().tokens.issue_access(grant, ttl);
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    // A string, as in every captured sample.
    body.insert(
        "expires_in".into(),
        json!(shared.config.access_token_ttl_secs.to_string()),
    );
    if let Some(token) = new_refresh_token {
        body.insert("refresh_token".into(), json!(token));
    }
    if let Some(expires) = refresh_expires {
        body.insert("refresh_token_timeout".into(), json!(format_1688(expires)));
    }
    body.insert("resource_owner".into(), json!(BUYER.login_id));
    body.insert("memberId".into(), json!(BUYER.member_id));
    body.insert("aliId".into(), json!(BUYER.ali_id));
    Reply::json(StatusCode::OK, &Value::Object(body))
}

/// `system.oauth2/getToken`.
pub(crate) fn get_token(shared: &Shared, p: &Params) -> Reply {
    if let Err(reply) = check_client(shared, p) {
        return reply;
    }
    let now = shared.now();
    match p.get("grant_type") {
        Some("refresh_token") => {
            let Some(token) = refresh_token_param(p) else {
                return invalid_request("refresh_token is required");
            };
            let live = shared.lock().tokens.live_refresh(token, now);
            match live {
                // Refresh answers carry no new refresh token (S7 expects it may be
                // absent), but say when the one used runs out.
                Ok((grant, expires)) => token_answer(shared, grant, None, Some(expires)),
                Err(why) => invalid_grant(why),
            }
        }
        Some("authorization_code") => {
            let Some(code) = p.get("code") else {
                return invalid_request("code is required");
            };
            let taken = shared
                .lock()
                .tokens
                .take_code(code, p.get("redirect_uri"), now);
            if let Err(why) = taken {
                return invalid_grant(why);
            }
            let mut guard = shared.lock();
            let tokens = &mut guard.tokens;
            let grant = tokens.new_grant();
            // Assumed from the parameter's name: without `need_refresh_token=true`
            // the app gets an access token only.
            let refresh = (p.get("need_refresh_token") == Some("true")).then(|| {
                let expires = now + refresh_ttl(shared);
                (tokens.issue_refresh(grant, expires), expires)
            });
            drop(guard);
            let (token, expires) = refresh.unzip();
            token_answer(shared, grant, token.as_deref(), expires)
        }
        Some(_) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be refresh_token or authorization_code",
        ),
        None => invalid_request("grant_type is required"),
    }
}

/// `system.oauth2/postponeToken`: replaces a refresh token that has less than
/// [`POSTPONE_WINDOW_DAYS`] days left with a new one, `refresh_token_ttl_days` ahead;
/// earlier, HTTP 400 `invalid_request`. The request must also carry a live
/// `access_token` (the SDK marks the call `need_auth`), else HTTP 401 as for a
/// business call.
pub(crate) fn postpone_token(shared: &Shared, p: &Params, request_id: &str) -> Reply {
    if let Err(reply) = check_client(shared, p) {
        return reply;
    }
    let Some(old) = refresh_token_param(p) else {
        return invalid_request("refresh_token is required");
    };
    let now = shared.now();
    let (grant, expires) = match shared.lock().tokens.live_refresh(old, now) {
        Ok(live) => live,
        Err(why) => return invalid_grant(why),
    };
    if !token_is_valid(shared, p.get("access_token")) {
        return unauthenticated(request_id);
    }
    if expires - now >= chrono::TimeDelta::days(POSTPONE_WINDOW_DAYS) {
        return invalid_request(&format!(
            "refresh token has more than {POSTPONE_WINDOW_DAYS} days left; it can be \
             postponed only in its last {POSTPONE_WINDOW_DAYS} days"
        ));
    }
    let new_expires = now + refresh_ttl(shared);
    let new = {
        let mut guard = shared.lock();
        let tokens = &mut guard.tokens;
        if let Some(t) = tokens.refresh.get_mut(old) {
            t.state = RefreshState::Replaced;
        }
        tokens.issue_refresh(grant, new_expires)
    };
    token_answer(shared, grant, Some(&new), Some(new_expires))
}

fn bad_authorize_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        format!(
            "<html><head><title>授权失败</title></head><body><h1>400 Bad Request</h1>\
             <p>{message}</p></body></html>"
        ),
    )
        .into_response()
}

/// `redirect_uri` with `code` and `state` added to its query, before any fragment.
fn callback_location(redirect_uri: &str, code: &str, state: Option<&str>) -> String {
    let (base, fragment) = match redirect_uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (redirect_uri, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    let mut location = format!("{base}{separator}code={}", encode(code));
    if let Some(state) = state {
        location.push_str("&state=");
        location.push_str(&encode(state));
    }
    if let Some(f) = fragment {
        location.push('#');
        location.push_str(f);
    }
    location
}

/// `GET /oauth/authorize?client_id&site=1688&redirect_uri&state`: the page
/// `auth.1688.com` shows; the sandbox's buyer consents at once and is sent back (302)
/// to `redirect_uri` with a single-use `code` bound to that `redirect_uri`, and the
/// `state`. An unknown `client_id`, or a missing or non-http(s) `redirect_uri`, gets
/// HTTP 400 with a short HTML page.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    *shared
        .lock()
        .calls
        .entry("oauth/authorize".to_owned())
        .or_default() += 1;
    let mut p = Params::default();
    if let Some(q) = query {
        p.extend_from_urlencoded(q.as_bytes());
    }
    let response = if p.get("client_id") != Some(shared.config.app_key.as_str()) {
        bad_authorize_request("client_id is missing or unknown")
    } else {
        match p.get("redirect_uri") {
            None => bad_authorize_request("redirect_uri is required"),
            Some(r) if !(r.starts_with("http://") || r.starts_with("https://")) => {
                bad_authorize_request("redirect_uri must be an absolute http(s) URL")
            }
            Some(redirect) => {
                let now = shared.now();
                let code = shared.lock().tokens.issue_code(now, Some(redirect));
                let location = callback_location(redirect, &code, p.get("state"));
                (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
            }
        }
    };
    // Never the query: it names the code's destination and the state.
    tracing::debug!(
        status = response.status().as_u16(),
        "sandbox oauth authorize"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_keeps_an_existing_query_and_fragment() {
        assert_eq!(
            callback_location("http://erp.example/cb", "c", Some("s t")),
            "http://erp.example/cb?code=c&state=s%20t"
        );
        assert_eq!(
            callback_location("http://erp.example/cb?tenant=7", "c", None),
            "http://erp.example/cb?tenant=7&code=c"
        );
        assert_eq!(
            callback_location("http://erp.example/cb?", "c", None),
            "http://erp.example/cb?code=c"
        );
        assert_eq!(
            callback_location("http://erp.example/cb?a=1#top", "c", Some("x")),
            "http://erp.example/cb?a=1&code=c&state=x#top"
        );
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_code_is_spent_by_its_first_presentation_and_dies_after_ten_minutes() {
        let t0 = at("2026-04-20T09:30:00+08:00");
        let mut tokens = Tokens::new("configured", t0 + chrono::TimeDelta::days(180));
        let code = tokens.issue_code(t0, Some("http://erp/cb"));
        assert!(
            tokens
                .take_code(&code, Some("http://other/cb"), t0)
                .is_err()
        );
        assert!(tokens.take_code(&code, Some("http://erp/cb"), t0).is_err());

        let code = tokens.issue_code(t0, Some("http://erp/cb"));
        let late = t0 + CODE_TTL;
        assert_eq!(
            tokens.take_code(&code, Some("http://erp/cb"), late),
            Err("code has expired")
        );
        let code = tokens.issue_code(t0, None);
        assert!(
            tokens
                .take_code(&code, None, late - chrono::TimeDelta::milliseconds(1))
                .is_ok()
        );
    }

    #[test]
    fn revoking_a_refresh_token_kills_its_grants_access_tokens_only() {
        let t0 = at("2026-04-20T09:30:00+08:00");
        let mut tokens = Tokens::new("configured", t0 + chrono::TimeDelta::days(180));
        let grant = tokens.new_grant();
        let refresh = tokens.issue_refresh(grant, t0 + chrono::TimeDelta::days(180));
        let mine = tokens.issue_access(grant, Duration::from_secs(60));
        let other = tokens.issue_access(0, Duration::from_secs(60));
        assert!(tokens.revoke_refresh(&refresh));
        assert!(!tokens.access.contains_key(&mine));
        assert!(tokens.access.contains_key(&other));
        assert_eq!(
            tokens.live_refresh(&refresh, t0),
            Err("refresh_token has been revoked")
        );
        assert!(tokens.live_refresh("configured", t0).is_ok());
        assert_eq!(tokens.issued_refresh(), vec![refresh]);
    }
}
