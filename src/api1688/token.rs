//! Access tokens: obtained from the account's refresh token (`system.oauth2/getToken`,
//! `grant_type=refresh_token`), reused until shortly before they expire, and dropped when
//! 1688 answers 401.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::error::{ApiError, snippet};
use super::json;

/// Refresh this long before 1688's stated expiry, so that a token never dies mid-run.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// What getToken says when 1688 does not say how long a token lives (10 hours, §3).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(36_000);

/// An access token and when we stop using it.
#[derive(Clone)]
pub struct AccessToken {
    pub value: SecretString,
    pub use_until: Instant,
}

/// The token state of one account.
pub struct TokenSource {
    refresh_token: Mutex<SecretString>,
    current: Mutex<Option<AccessToken>>,
}

impl TokenSource {
    pub fn new(refresh_token: SecretString) -> Self {
        TokenSource {
            refresh_token: Mutex::new(refresh_token),
            current: Mutex::new(None),
        }
    }

    /// A token valid for a while yet, refreshed through `refresh` when needed. Concurrent
    /// callers wait for one refresh instead of each making their own.
    pub async fn get<F, Fut>(&self, refresh: F) -> Result<SecretString, ApiError>
    where
        F: FnOnce(SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<TokenGrant, ApiError>>,
    {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref().filter(|t| t.use_until > Instant::now()) {
            return Ok(token.value.clone());
        }
        let refresh_token = self.refresh_token.lock().await.clone();
        let grant = refresh(refresh_token).await?;
        if let Some(rotated) = grant.refresh_token.clone() {
            *self.refresh_token.lock().await = rotated;
        }
        let lifetime = grant.expires_in.unwrap_or(DEFAULT_LIFETIME);
        let use_until = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN).max(lifetime / 2);
        *current = Some(AccessToken {
            value: grant.access_token.clone(),
            use_until,
        });
        Ok(grant.access_token)
    }

    /// Forgets `token` after 1688 refused it, unless another caller already replaced it.
    pub async fn invalidate(&self, token: &SecretString) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|t| t.value.expose_secret() == token.expose_secret())
        {
            *current = None;
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
        let source = TokenSource::new(SecretString::from("r"));
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let refresh = |_| async {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(TokenGrant {
                access_token: SecretString::from(format!("t{n}")),
                expires_in: Some(Duration::from_secs(36_000)),
                refresh_token: None,
                member_id: None,
                resource_owner: None,
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
