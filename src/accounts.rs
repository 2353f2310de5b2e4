//! Connecting a 1688 account ("Connect 1688"): the authorization URL, the redirect back
//! (on a loopback listener, or pasted on the terminal), the `state` check, and the code
//! exchange whose refresh token is kept in the state directory.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::Url;
use tokio::sync::mpsc;

use crate::api1688::token::TokenGrant;
use crate::api1688::{ApiError, Client1688};
use crate::config::AccountSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the redirect's state `{got}` is not the one this connection sent; start again")]
    WrongState { got: String },
    #[error("1688 sent no code back{}", .0.as_deref().map(|e| format!(" ({e})")).unwrap_or_default())]
    NoCode(Option<String>),
    #[error("`{0}` is neither the redirected URL nor an authorization code")]
    Unreadable(String),
    #[error("cannot listen on {addr} for the redirect: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no redirect arrived within {0:?}")]
    Timeout(Duration),
    #[error("1688 did not accept the code: {0}")]
    Exchange(#[from] ApiError),
}

/// One attempt at connecting an account.
#[derive(Debug, Clone)]
pub struct Connection {
    state: String,
    redirect_uri: String,
    url: String,
}

impl Connection {
    /// A new attempt with a random `state`.
    pub fn begin(account: &AccountSettings) -> Self {
        let state = random_state();
        let url = Url::parse_with_params(
            &account.authorize_url,
            [
                ("client_id", account.app_key.as_str()),
                ("site", "1688"),
                ("redirect_uri", account.redirect_uri.as_str()),
                ("state", state.as_str()),
            ],
        )
        .map(String::from)
        .unwrap_or_else(|_| account.authorize_url.clone());
        Connection {
            state,
            redirect_uri: account.redirect_uri.clone(),
            url,
        }
    }

    /// The page to open in a browser signed in as the 1688 buyer.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The address a loopback listener should take: the redirect URI's own.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        let url = Url::parse(&self.redirect_uri).ok()?;
        let host = url.host_str()?.trim_matches(['[', ']']);
        let ip = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        format!("{ip}:{}", url.port_or_known_default()?)
            .parse()
            .ok()
            .or_else(|| {
                ip.parse::<std::net::IpAddr>()
                    .ok()
                    .map(|ip| SocketAddr::new(ip, url.port_or_known_default().unwrap_or(80)))
            })
    }

    /// The code in what the user pasted: the whole redirected URL (its `state` must be
    /// ours) or the bare code.
    pub fn code_from_pasted(&self, text: &str) -> Result<String, ConnectError> {
        let text = text.trim();
        if let Ok(url) = Url::parse(text) {
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            return self.code_from_query(&pairs);
        }
        if !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Ok(text.to_owned());
        }
        Err(ConnectError::Unreadable(text.chars().take(60).collect()))
    }

    fn code_from_query(&self, pairs: &[(String, String)]) -> Result<String, ConnectError> {
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        match get("state") {
            Some(state) if state == self.state => {}
            Some(got) => return Err(ConnectError::WrongState { got }),
            None => {
                return Err(ConnectError::WrongState {
                    got: "(none)".into(),
                });
            }
        }
        get("code")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ConnectError::NoCode(get("error_description").or_else(|| get("error"))))
    }

    /// Listens on `addr` for the browser's redirect and returns its code once a request
    /// with our `state` arrives. Requests with another state are answered with an error
    /// page and waited past.
    pub async fn receive(
        &self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<String, ConnectError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ConnectError::Listen { addr, source })?;
        self.receive_on(listener, timeout).await
    }

    /// Like [`Connection::receive`], on a listener already bound.
    pub async fn receive_on(
        &self,
        listener: tokio::net::TcpListener,
        timeout: Duration,
    ) -> Result<String, ConnectError> {
        let path = Url::parse(&self.redirect_uri)
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|_| "/".into());
        let (sender, mut receiver) = mpsc::channel::<Result<String, ConnectError>>(4);
        let handler_state = (self.clone(), sender);
        let app = axum::Router::new()
            .route(&path, get(callback))
            .with_state(handler_state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let outcome = tokio::time::timeout(timeout, async {
            loop {
                match receiver.recv().await {
                    Some(Ok(code)) => return Ok(code),
                    Some(Err(ConnectError::WrongState { got })) => {
                        tracing::warn!(%got, "ignored a redirect with another state");
                    }
                    Some(Err(e)) => return Err(e),
                    None => return Err(ConnectError::NoCode(None)),
                }
            }
        })
        .await
        .unwrap_or(Err(ConnectError::Timeout(timeout)));
        server.abort();
        outcome
    }

    /// Exchanges the code; the client keeps the tokens (state directory).
    pub async fn finish(
        &self,
        client: &Client1688,
        code: &str,
    ) -> Result<TokenGrant, ConnectError> {
        Ok(client.exchange_code(code, &self.redirect_uri).await?)
    }
}

async fn callback(
    State((connection, sender)): State<(Connection, mpsc::Sender<Result<String, ConnectError>>)>,
    Query(query): Query<Vec<(String, String)>>,
) -> impl IntoResponse {
    let outcome = connection.code_from_query(&query);
    let page = match &outcome {
        Ok(_) => "sync1688: the account is authorized. You can close this page.".to_owned(),
        Err(e) => format!("sync1688: {e}"),
    };
    let status = if outcome.is_ok() { 200 } else { 400 };
    let _ = sender.send(outcome).await;
    (
        axum::http::StatusCode::from_u16(status).unwrap_or_default(),
        page,
    )
}

/// 128 random bits, hex: the anti-forgery `state` of one connection attempt.
fn random_state() -> String {
    let mut bytes = [0u8; 16];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        if f.read_exact(&mut bytes).is_ok() {
            return hex::encode(bytes);
        }
    }
    // No /dev/urandom: a hash of time and process is still unguessable enough for a
    // one-off state that only this process checks.
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    hex::encode(&sha1::Sha1::digest(seed.as_bytes())[..16])
}

use sha1::Digest as _;

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountSettings {
        let settings = crate::config::Settings::load(&crate::config::Sources::inline(
            "[[accounts]]\nname = \"main\"\napp_key = \"1234567\"\napp_secret = \"s\"\ndefault_warehouse = \"W\"\n\
             redirect_uri = \"http://127.0.0.1:8690/callback?from=sync1688\"",
        ))
        .unwrap();
        settings.accounts[0].clone()
    }

    #[test]
    fn the_authorization_url_names_the_app_the_site_the_redirect_and_a_fresh_state() {
        let a = Connection::begin(&account());
        let b = Connection::begin(&account());
        let url = Url::parse(a.url()).unwrap();
        assert_eq!(url.host_str(), Some("auth.1688.com"));
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["client_id"], "1234567");
        assert_eq!(q["site"], "1688");
        assert_eq!(
            q["redirect_uri"],
            "http://127.0.0.1:8690/callback?from=sync1688"
        );
        assert_eq!(q["state"].len(), 32);
        assert_ne!(a.state, b.state);
        assert_eq!(a.redirect_addr(), Some("127.0.0.1:8690".parse().unwrap()));
    }

    #[test]
    fn a_pasted_url_must_carry_our_state_and_a_bare_code_is_taken_as_is() {
        let c = Connection::begin(&account());
        let good = format!(
            "http://127.0.0.1:8690/callback?from=sync1688&code=abc-123&state={}",
            c.state
        );
        assert_eq!(c.code_from_pasted(&good).unwrap(), "abc-123");
        let forged = "http://127.0.0.1:8690/callback?code=abc&state=0000";
        assert!(matches!(
            c.code_from_pasted(forged),
            Err(ConnectError::WrongState { .. })
        ));
        assert_eq!(c.code_from_pasted("  abc-123 \n").unwrap(), "abc-123");
        assert!(matches!(
            c.code_from_pasted("what is this?"),
            Err(ConnectError::Unreadable(_))
        ));
        let denied = format!("http://x/cb?error=access_denied&state={}", c.state);
        assert!(matches!(
            c.code_from_pasted(&denied),
            Err(ConnectError::NoCode(Some(_)))
        ));
    }
}
