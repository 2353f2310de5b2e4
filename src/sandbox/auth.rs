//! OAuth as the sandbox plays it (1688-open-api.md §3).
//!
//! Token errors use the OAuth 2 shape `{"error": …, "error_description": …}`:
//! `invalid_client` (HTTP 401) for a wrong `client_id`/`client_secret`,
//! `invalid_grant` (HTTP 400) for an unknown refresh token or authorization code,
//! `invalid_request` (HTTP 400) for a missing field and `unsupported_grant_type`
//! (HTTP 400). The real gateway's shape is not documented; a client should read both
//! this and the gateway's `error_code` shape.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::sync::Arc;

use super::orders::BUYER;
use super::params::{Params, encode};
use super::rng::SplitMix64;
use super::server::{Reply, Shared};
use crate::api1688::time::format_1688;

/// How long an authorization code lives ([X4] says to use it within 10 minutes).
const CODE_TTL: Duration = Duration::from_secs(600);

/// Issued access tokens and authorization codes.
#[derive(Debug)]
pub(crate) struct Tokens {
    access: HashMap<String, Instant>,
    codes: HashMap<String, Instant>,
    /// Every access token ever issued, for tests that check none leaks into logs.
    issued: Vec<String>,
    rng: SplitMix64,
}

impl Tokens {
    pub(crate) fn new() -> Self {
        // Tokens must differ between runs and calls; nothing else depends on them.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default();
        Tokens {
            access: HashMap::new(),
            codes: HashMap::new(),
            issued: Vec::new(),
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

    fn issue_access(&mut self, ttl: Duration) -> String {
        let now = Instant::now();
        self.access.retain(|_, expiry| *expiry > now);
        let token = self.uuid();
        self.access.insert(token.clone(), now + ttl);
        self.issued.push(token.clone());
        token
    }

    pub(crate) fn issue_code(&mut self) -> String {
        let now = Instant::now();
        self.codes.retain(|_, expiry| *expiry > now);
        let code = self.uuid();
        self.codes.insert(code.clone(), now + CODE_TTL);
        code
    }

    /// Codes are single-use: taking one removes it.
    fn take_code(&mut self, code: &str) -> bool {
        self.codes
            .remove(code)
            .is_some_and(|expiry| expiry > Instant::now())
    }

    pub(crate) fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    pub(crate) fn expire_all(&mut self) {
        self.access.clear();
    }
}

pub(crate) fn token_is_valid(shared: &Shared, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    shared
        .lock()
        .tokens
        .access
        .get(token)
        .is_some_and(|expiry| *expiry > Instant::now())
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

fn check_client(shared: &Shared, p: &Params) -> Result<(), Reply> {
    let (Some(id), Some(secret)) = (p.get("client_id"), p.get("client_secret")) else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        ));
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

/// `system.oauth2/getToken`.
pub(crate) fn get_token(shared: &Shared, p: &Params) -> Reply {
    if let Err(reply) = check_client(shared, p) {
        return reply;
    }
    let with_refresh_token = match p.get("grant_type") {
        Some("refresh_token") => {
            match refresh_token_param(p) {
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "refresh_token is required",
                    );
                }
                Some(t) if t != shared.config.refresh_token => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "refresh_token is invalid or expired",
                    );
                }
                Some(_) => {}
            }
            // Refresh answers carry no new refresh token (S7 expects it may be absent).
            false
        }
        Some("authorization_code") => {
            let Some(code) = p.get("code") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is required",
                );
            };
            if !shared.lock().tokens.take_code(code) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "code is invalid, expired or already used",
                );
            }
            true
        }
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be refresh_token or authorization_code",
            );
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is required",
            );
        }
    };
    let ttl = Duration::from_secs(shared.config.access_token_ttl_secs);
    let access_token = shared.lock().tokens.issue_access(ttl);
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    // A string, as in every captured sample.
    body.insert(
        "expires_in".into(),
        json!(shared.config.access_token_ttl_secs.to_string()),
    );
    body.insert(
        "refresh_token_timeout".into(),
        json!(format_1688(shared.refresh_token_timeout)),
    );
    body.insert("resource_owner".into(), json!(BUYER.login_id));
    body.insert("memberId".into(), json!(BUYER.member_id));
    body.insert("aliId".into(), json!(BUYER.ali_id));
    if with_refresh_token {
        body.insert("refresh_token".into(), json!(shared.config.refresh_token));
    }
    Reply::json(StatusCode::OK, &Value::Object(body))
}

/// `system.oauth2/postponeToken`: 1688 only extends a refresh token with less than 30
/// days left; the sandbox's has about half a year, so this is always the HTTP 400.
pub(crate) fn postpone_token(shared: &Shared, p: &Params) -> Reply {
    if let Err(reply) = check_client(shared, p) {
        return reply;
    }
    if refresh_token_param(p) != Some(shared.config.refresh_token.as_str()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "refresh_token is invalid or expired",
        );
    }
    oauth_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "refresh_token can only be postponed when less than 30 days remain",
    )
}

/// `GET /oauth/authorize?client_id&site=1688&redirect_uri&state`: the page
/// `auth.1688.com` shows; the sandbox's buyer consents at once and is sent back to
/// `redirect_uri` with a single-use `code` and the `state`.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut p = Params::default();
    if let Some(q) = query {
        p.extend_from_urlencoded(q.as_bytes());
    }
    if p.get("client_id") != Some(shared.config.app_key.as_str()) {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let Some(redirect) = p.get("redirect_uri") else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is required").into_response();
    };
    let code = shared.lock().tokens.issue_code();
    let mut location = format!(
        "{redirect}{}code={}",
        if redirect.contains('?') { '&' } else { '?' },
        encode(&code)
    );
    if let Some(state) = p.get("state") {
        location.push_str(&format!("&state={}", encode(state)));
    }
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}
