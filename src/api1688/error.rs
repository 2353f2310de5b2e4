//! What can go wrong when talking to 1688, told apart so that callers can decide
//! whether to retry. Messages never contain a secret, a token or a signed URL.

use std::time::Duration;

/// An API failure, classified.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// The request did not complete: connection refused or reset, DNS, TLS.
    #[error("{api}: transport error: {message}")]
    Transport { api: String, message: String },
    /// No answer within the configured timeout.
    #[error("{api}: no answer within {timeout:?}")]
    Timeout { api: String, timeout: Duration },
    /// An HTTP error without the gateway's JSON error body (e.g. a proxy's 502 page).
    #[error("{api}: HTTP {status}: {snippet}")]
    Http {
        api: String,
        status: u16,
        snippet: String,
    },
    /// `gw.QosAppFrequencyLimit` and friends: slow down.
    #[error("{api}: rate limited by 1688 ({code})")]
    RateLimited { api: String, code: String },
    /// 401: the access token is missing, expired or revoked.
    #[error("{api}: 1688 refused the access token (401 Request need user authenticated)")]
    Unauthorized { api: String },
    /// A gateway error (`error_code` body on a 4xx/5xx), such as `gw.SignatureInvalid`.
    #[error("{api}: gateway error {code} (HTTP {status}): {message}")]
    Gateway {
        api: String,
        status: u16,
        code: String,
        message: String,
    },
    /// An error inside the API's own result (HTTP 200, `success:false` / `errorCode`).
    #[error("{api}: 1688 error {code}: {message}")]
    Business {
        api: String,
        code: String,
        message: String,
    },
    /// A body that is not the JSON we expect: truncated, not JSON, wrong shape.
    #[error("{api}: malformed response: {detail}")]
    Malformed { api: String, detail: String },
    /// The refresh token was refused: a person must reconnect the account.
    #[error("getToken refused the refresh token of account `{account}`: {message}")]
    TokenRefused { account: String, message: String },
}

impl ApiError {
    /// Worth another try: timeouts, transport failures, 5xx, rate limits, truncated bodies.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { .. }
            | ApiError::Timeout { .. }
            | ApiError::RateLimited { .. }
            | ApiError::Malformed { .. } => true,
            ApiError::Http { status, .. } | ApiError::Gateway { status, .. } => {
                *status >= 500 || *status == 429
            }
            ApiError::Unauthorized { .. }
            | ApiError::Business { .. }
            | ApiError::TokenRefused { .. } => false,
        }
    }

    pub fn is_rate_limit(&self) -> bool {
        matches!(self, ApiError::RateLimited { .. })
    }

    /// A short label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiError::Transport { .. } => "transport",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Http { .. } => "http",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::Gateway { .. } => "gateway",
            ApiError::Business { .. } => "business",
            ApiError::Malformed { .. } => "malformed",
            ApiError::TokenRefused { .. } => "token_refused",
        }
    }
}

/// The first characters of a body, on one line, for an error message.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cut: String = one_line.chars().take(120).collect();
    if one_line.chars().count() > 120 {
        cut.push('…');
    }
    if cut.is_empty() {
        "(empty body)".into()
    } else {
        cut
    }
}
