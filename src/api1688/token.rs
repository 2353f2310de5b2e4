//! Access tokens: obtained from the account's refresh token (`system.oauth2/getToken`,
//! `grant_type=refresh_token`), reused until shortly before they expire, and dropped when
//! 1688 answers 401.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::error::{ApiError, snippet};
use super::json;
use super::time::parse_1688;
use super::token_store::{StoredToken, TokenStore, fingerprint};

/// Refresh this long before 1688's stated expiry, so that a token never dies mid-run.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// What getToken says when 1688 does not say how long a token lives (10 hours, §3).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(36_000);

/// An access token and when we stop using it.
#[derive(Clone)]
pub struct AccessToken {
    pub value: SecretString,
    pub use_until: Instant,
    pub expires_at: DateTime<Utc>,
}

/// Refresh tokens get extended (`postponeToken`) once fewer than this many days are left.
pub const POSTPONE_WITHIN_DAYS: i64 = 30;

/// What an operator wants to know about an account's authorization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenStatus {
    /// A refresh token is known (configured, or stored by `accounts connect`).
    pub connected: bool,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub resource_owner: Option<String>,
    pub member_id: Option<String>,
    /// Why 1688 refused the refresh token, until the account is reconnected.
    pub refused: Option<String>,
}

struct State {
    refresh_token: Option<SecretString>,
    meta: TokenStatus,
    authorized_at: Option<DateTime<Utc>>,
    access: Option<AccessToken>,
    /// The refresh token a postpone was last attempted for (one attempt per token).
    postpone_tried: Option<String>,
}

/// The token state of one account: the refresh token (from the configuration, or from
/// the state directory when `accounts connect` or 1688 gave a newer one) and the current
/// access token.
pub struct TokenSource {
    account: String,
    store: Option<TokenStore>,
    config_fingerprint: Option<String>,
    state: Mutex<State>,
}

impl TokenSource {
    pub fn new(account: &str, configured: Option<SecretString>, store: Option<TokenStore>) -> Self {
        let config_fingerprint = configured.as_ref().map(fingerprint);
        let stored = store.as_ref().and_then(|s| match s.load(account) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(account, error = %e, "ignoring the stored token");
                None
            }
        });
        // A stored token wins unless the configuration brings a token it has not seen.
        let use_stored = stored
            .as_ref()
            .is_some_and(|t| configured.is_none() || t.config_token_sha1 == config_fingerprint);
        let mut meta = TokenStatus::default();
        let mut authorized_at = None;
        let refresh_token = match (use_stored, stored) {
            (true, Some(t)) => {
                meta.refresh_token_expires_at = t.refresh_token_expires_at;
                meta.resource_owner = t.resource_owner;
                meta.member_id = t.member_id;
                authorized_at = t.authorized_at;
                Some(t.refresh_token)
            }
            _ => configured,
        };
        meta.connected = refresh_token.is_some();
        let source = TokenSource {
            account: account.to_owned(),
            store,
            config_fingerprint,
            state: Mutex::new(State {
                refresh_token,
                meta,
                authorized_at,
                access: None,
                postpone_tried: None,
            }),
        };
        if !use_stored {
            // Seed the state directory with the configured token, so that a rotation
            // by 1688 later has a file to go to.
            if let Ok(state) = source.state.try_lock() {
                source.persist(&state);
            }
        }
        source
    }

    /// A token valid for a while yet, refreshed through `refresh` when needed. Concurrent
    /// callers wait for one refresh instead of each making their own. A refresh token
    /// 1688 refused is not tried again until the account is reconnected.
    pub async fn get<F, Fut>(&self, refresh: F) -> Result<SecretString, ApiError>
    where
        F: FnOnce(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<TokenGrant, ApiError>>,
    {
        let mut state = self.state.lock().await;
        if let Some(token) = state
            .access
            .as_ref()
            .filter(|t| t.use_until > Instant::now())
        {
            return Ok(token.value.clone());
        }
        if state.meta.refused.is_some() || state.refresh_token.is_none() {
            self.reload(&mut state);
        }
        if let Some(reason) = &state.meta.refused {
            return Err(ApiError::TokenRefused {
                account: self.account.clone(),
                message: reason.clone(),
            });
        }
        let Some(refresh_token) = state.refresh_token.clone() else {
            return Err(ApiError::TokenRefused {
                account: self.account.clone(),
                message: format!(
                    "the account is not connected: run `sync1688 accounts connect --account {}`",
                    self.account
                ),
            });
        };
        let grant = match refresh(refresh_token).await {
            Ok(grant) => grant,
            Err(ApiError::TokenRefused { message, .. }) => {
                let reason = format!(
                    "{message}; reconnect with `sync1688 accounts connect --account {}`",
                    self.account
                );
                state.meta.refused = Some(reason.clone());
                return Err(ApiError::TokenRefused {
                    account: self.account.clone(),
                    message: reason,
                });
            }
            Err(e) => return Err(e),
        };
        Ok(self.accept(&mut state, &grant, false))
    }

    /// Takes a grant in: the access token, and a new refresh token when 1688 rotated it
    /// (`authorized`: it came from `accounts connect`). Returns the access token.
    fn accept(&self, state: &mut State, grant: &TokenGrant, authorized: bool) -> SecretString {
        let lifetime = grant.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let use_until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN).max(lifetime / 2);
        let expires_at = Utc::now() + chrono::TimeDelta::from_std(lifetime).unwrap_or_default();
        state.access = Some(AccessToken {
            value: grant.access_token.clone(),
            use_until,
            expires_at,
        });
        state.meta.access_token_expires_at = Some(expires_at);
        if let Some(rotated) = &grant.refresh_token {
            state.refresh_token = Some(rotated.clone());
            state.meta.refresh_token_expires_at = grant.refresh_token_expires_at;
            state.meta.connected = true;
        } else if grant.refresh_token_expires_at.is_some() {
            state.meta.refresh_token_expires_at = grant.refresh_token_expires_at;
        }
        if grant.member_id.is_some() {
            state.meta.member_id = grant.member_id.clone();
        }
        if grant.resource_owner.is_some() {
            state.meta.resource_owner = grant.resource_owner.clone();
        }
        if authorized {
            state.authorized_at = Some(Utc::now());
            state.meta.refused = None;
            state.postpone_tried = None;
        }
        self.persist(state);
        grant.access_token.clone()
    }

    /// Stores a grant from `accounts connect` or `postponeToken`.
    pub async fn replace(&self, grant: &TokenGrant, authorized: bool) {
        let mut state = self.state.lock().await;
        self.accept(&mut state, grant, authorized);
    }

    /// Forgets `token` after 1688 refused it, unless another caller already replaced it.
    pub async fn invalidate(&self, token: &SecretString) {
        let mut state = self.state.lock().await;
        if state
            .access
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == token.expose_secret())
        {
            state.access = None;
        }
    }

    pub async fn status(&self) -> TokenStatus {
        self.state.lock().await.meta.clone()
    }

    /// The refresh and access tokens to extend with, when the refresh token has fewer
    /// than [`POSTPONE_WITHIN_DAYS`] left and no attempt was made for it yet.
    pub async fn due_for_postpone(
        &self,
        now: DateTime<Utc>,
    ) -> Option<(SecretString, SecretString)> {
        let mut state = self.state.lock().await;
        let expires = state.meta.refresh_token_expires_at?;
        if expires - now >= chrono::TimeDelta::days(POSTPONE_WITHIN_DAYS) {
            return None;
        }
        let refresh = state.refresh_token.clone()?;
        let access = state.access.as_ref()?.value.clone();
        let print = fingerprint(&refresh);
        if state.postpone_tried.as_deref() == Some(print.as_str()) {
            return None;
        }
        state.postpone_tried = Some(print);
        Some((refresh, access))
    }

    /// Picks up a token that `accounts connect` stored since (another process).
    fn reload(&self, state: &mut State) {
        let Some(stored) = self
            .store
            .as_ref()
            .and_then(|s| s.load(&self.account).ok().flatten())
        else {
            return;
        };
        let same = state
            .refresh_token
            .as_ref()
            .is_some_and(|t| t.expose_secret() == stored.refresh_token.expose_secret());
        if same {
            return;
        }
        tracing::info!(account = %self.account, "using the refresh token stored by `accounts connect`");
        state.refresh_token = Some(stored.refresh_token);
        state.meta = TokenStatus {
            connected: true,
            refresh_token_expires_at: stored.refresh_token_expires_at,
            access_token_expires_at: None,
            resource_owner: stored.resource_owner,
            member_id: stored.member_id,
            refused: None,
        };
        state.authorized_at = stored.authorized_at;
        state.access = None;
        state.postpone_tried = None;
    }

    fn persist(&self, state: &State) {
        let (Some(store), Some(refresh_token)) = (&self.store, &state.refresh_token) else {
            return;
        };
        let token = StoredToken {
            refresh_token: refresh_token.clone(),
            refresh_token_expires_at: state.meta.refresh_token_expires_at,
            access_token_expires_at: state.meta.access_token_expires_at,
            resource_owner: state.meta.resource_owner.clone(),
            member_id: state.meta.member_id.clone(),
            authorized_at: state.authorized_at,
            updated_at: Utc::now(),
            config_token_sha1: self.config_fingerprint.clone(),
        };
        if let Err(e) = store.save(&self.account, &token) {
            tracing::warn!(account = %self.account, error = %e, "cannot store the refresh token");
        }
    }
}

/// What getToken granted.
#[derive(Clone)]
pub struct TokenGrant {
    pub access_token: SecretString,
    pub expires_in: Option<Duration>,
    /// A new refresh token, when 1688 rotates it.
    pub refresh_token: Option<SecretString>,
    pub member_id: Option<String>,
    pub resource_owner: Option<String>,
    /// `refresh_token_timeout`: when the refresh token stops working.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TokenGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenGrant")
            .field("expires_in", &self.expires_in)
            .field("member_id", &self.member_id)
            .field("resource_owner", &self.resource_owner)
            .finish_non_exhaustive()
    }
}

/// Reads a getToken answer. `expires_in` comes as a string in 1688's samples.
pub fn parse_grant(account: &str, status: u16, body: &[u8]) -> Result<TokenGrant, ApiError> {
    let api = "system.oauth2/getToken".to_owned();
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) if status >= 500 => {
            return Err(ApiError::Http {
                api,
                status,
                snippet: snippet(body),
            });
        }
        Err(e) => {
            return Err(ApiError::Malformed {
                api,
                detail: format!("not JSON ({e})"),
            });
        }
    };
    let access_token = json::field_text(&value, "access_token");
    if status >= 500 {
        return Err(ApiError::Http {
            api,
            status,
            snippet: error_message(&value),
        });
    }
    if status == 429
        || value
            .get("error_code")
            .and_then(json::text)
            .is_some_and(|c| c.contains("FrequencyLimit"))
    {
        return Err(ApiError::RateLimited {
            api,
            code: value
                .get("error_code")
                .and_then(json::text)
                .unwrap_or_else(|| "429".into()),
        });
    }
    let Some(access_token) = access_token.filter(|_| status < 400) else {
        // Never echo the body: a refused grant may repeat what we sent.
        return Err(ApiError::TokenRefused {
            account: account.to_owned(),
            message: format!("HTTP {status}: {}", error_message(&value)),
        });
    };
    Ok(TokenGrant {
        access_token: SecretString::from(access_token),
        expires_in: value
            .get("expires_in")
            .and_then(json::id)
            .map(|secs| Duration::from_secs(secs.max(0) as u64)),
        refresh_token: json::field_text(&value, "refresh_token").map(SecretString::from),
        member_id: json::field_text(&value, "memberId"),
        resource_owner: json::field_text(&value, "resource_owner"),
        refresh_token_expires_at: json::field_text(&value, "refresh_token_timeout")
            .and_then(|t| parse_1688(&t).ok()),
    })
}

/// The error text of a token or gateway error body, whichever keys it uses.
fn error_message(value: &Value) -> String {
    let code = ["error", "error_code", "errorCode", "code"]
        .iter()
        .find_map(|k| json::field_text(value, k));
    let message = [
        "error_description",
        "error_message",
        "errorMessage",
        "message",
    ]
    .iter()
    .find_map(|k| json::field_text(value, k));
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => "no access_token in the answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_may_be_a_string() {
        let grant = parse_grant(
            "main",
            200,
            br#"{"access_token":"tok","expires_in":"36000","refresh_token_timeout":"20170126094556000+0800","memberId":"b2b-1"}"#,
        )
        .unwrap();
        assert_eq!(grant.expires_in, Some(Duration::from_secs(36_000)));
        assert_eq!(grant.member_id.as_deref(), Some("b2b-1"));
    }

    #[test]
    fn a_refused_grant_does_not_echo_the_body() {
        let err = parse_grant("main", 401, br#"{"error":"invalid_grant","error_description":"refresh token expired","refresh_token":"leaked"}"#)
            .unwrap_err();
        assert!(matches!(err, ApiError::TokenRefused { .. }));
        let text = err.to_string();
        assert!(
            text.contains("invalid_grant") && !text.contains("leaked"),
            "{text}"
        );
        assert!(!err.is_transient());
    }

    #[test]
    fn a_proxy_error_during_refresh_is_transient() {
        let err = parse_grant("main", 502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(err.is_transient(), "{err}");
    }

    #[tokio::test]
    async fn one_refresh_serves_until_the_token_is_invalidated() {
        let source = TokenSource::new("main", Some(SecretString::from("r")), None);
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let refresh = |_| async {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(TokenGrant {
                access_token: SecretString::from(format!("t{n}")),
                expires_in: Some(Duration::from_secs(36_000)),
                refresh_token: None,
                member_id: None,
                resource_owner: None,
                refresh_token_expires_at: None,
            })
        };
        let a = source.get(refresh).await.unwrap();
        let b = source.get(refresh).await.unwrap();
        assert_eq!(a.expose_secret(), b.expose_secret());
        source.invalidate(&a).await;
        let c = source.get(refresh).await.unwrap();
        assert_eq!(c.expose_secret(), "t1");
    }
}
