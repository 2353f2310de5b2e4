//! The signed, rate-limited, retrying client of one 1688 account.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::error::{ApiError, snippet};
use super::json::{self, JsonRef};
use super::node::{self, Node};
use super::orders::{OrderListPage, parse_trade_info};
use super::page_scan::read_order_list_known;
use super::products;
use super::signing;
use super::time::format_1688;
use super::token::{TokenGrant, TokenSource, TokenStatus, parse_grant};
use super::token_store::TokenStore;
use crate::config::{AccountSettings, ApiSettings};
use crate::domain::KnownOrders;
use crate::domain::{Order1688, Product1688, SyncWindow};

/// One API of the gateway: namespace and name, version 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Api {
    pub namespace: &'static str,
    pub name: &'static str,
}

impl Api {
    pub const BUYER_ORDER_LIST: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.trade.getBuyerOrderList",
    };
    pub const BUYER_VIEW: Api = Api {
        namespace: "com.alibaba.trade",
        name: "alibaba.trade.get.buyerView",
    };
    pub const PRODUCT_FOLLOW: Api = Api {
        namespace: "com.alibaba.product",
        name: "alibaba.product.follow",
    };
    pub const PRODUCT_INFO: Api = Api {
        namespace: "com.alibaba.product",
        name: "alibaba.cross.productInfo",
    };
}

/// How a call is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The least wait after a rate-limit answer.
    pub rate_limit_pause: Duration,
}

impl From<&ApiSettings> for RetryPolicy {
    fn from(api: &ApiSettings) -> Self {
        RetryPolicy {
            max_retries: api.max_retries,
            min_delay: api.retry_min_delay,
            max_delay: api.retry_max_delay,
            rate_limit_pause: api.rate_limit_pause,
        }
    }
}

/// A filter of `getBuyerOrderList`.
#[derive(Debug, Clone, Copy)]
pub enum OrderFilter {
    /// By creation time (the rolling window and backfills).
    Created(SyncWindow),
    /// By last modification time (change tracking).
    Modified(SyncWindow),
}

/// How an answer (API name, HTTP status, body) becomes a call's result: [`classify`] for
/// a `Value`, or a reader that classifies and reads the body in place.
pub(crate) type Reader<'r, T> = &'r (dyn Fn(&str, u16, &[u8]) -> Result<T, ApiError> + Sync);

/// The client of one 1688 account. Cheap to share behind an `Arc`.
pub struct Client1688 {
    http: reqwest::Client,
    account: String,
    app_key: String,
    app_secret: SecretString,
    api_base: String,
    timeout: Duration,
    tokens: TokenSource,
    limiter: DefaultDirectRateLimiter,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client1688 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client1688")
            .field("account", &self.account)
            .field("api_base", &self.api_base)
            .finish_non_exhaustive()
    }
}

/// An HTTP client for 1688 calls. Accounts share one: each client holds its own copy
/// of the system's root certificates and its own connection pool, which an idle daemon
/// with many accounts would otherwise keep as many times over.
pub fn http_client(api: &ApiSettings) -> Result<reqwest::Client, ApiError> {
    reqwest::Client::builder()
        .timeout(api.timeout)
        .connect_timeout(api.timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("sync1688/", env!("CARGO_PKG_VERSION")))
        .pool_idle_timeout(crate::memory::IDLE_CONNECTION_TIMEOUT)
        .build()
        .map_err(|e| ApiError::Transport {
            api: "client".into(),
            message: e.without_url().to_string(),
        })
}

impl Client1688 {
    /// `state_dir` keeps the account's refresh token across restarts (see
    /// [`TokenStore`]); without one, tokens live in memory only.
    pub fn new(
        account: &AccountSettings,
        api: &ApiSettings,
        state_dir: Option<&std::path::Path>,
    ) -> Result<Arc<Self>, ApiError> {
        Ok(Self::with_http(account, api, state_dir, http_client(api)?))
    }

    /// As [`Client1688::new`], over an HTTP client that other accounts share (see
    /// [`http_client`]).
    pub fn with_http(
        account: &AccountSettings,
        api: &ApiSettings,
        state_dir: Option<&std::path::Path>,
        http: reqwest::Client,
    ) -> Arc<Self> {
        let rps = NonZeroU32::new(account.requests_per_second).unwrap_or(NonZeroU32::MIN);
        // Evenly spaced requests (no burst): a burst that leaves on time can still arrive
        // bunched and trip 1688's own limiter.
        let quota = Quota::per_second(rps).allow_burst(NonZeroU32::MIN);
        Arc::new(Client1688 {
            http,
            account: account.name.clone(),
            app_key: account.app_key.clone(),
            app_secret: account.app_secret.clone(),
            api_base: account.api_base.clone(),
            timeout: api.timeout,
            tokens: TokenSource::new(
                &account.name,
                account.refresh_token.clone(),
                state_dir.map(TokenStore::new),
            ),
            limiter: RateLimiter::direct(quota),
            retry: RetryPolicy::from(api),
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    /// One page of the buyer's orders; `history` queries 1688's history table (`isHis`),
    /// which holds orders older than about three months. With `known`, the orders come
    /// with their fingerprints, and a page whose every order is in `known` comes back
    /// with their ids instead (see [`super::page_scan`]).
    pub async fn buyer_order_list(
        &self,
        filter: OrderFilter,
        history: bool,
        page: u32,
        page_size: u32,
        known: Option<&KnownOrders>,
    ) -> Result<OrderListPage, ApiError> {
        let params = order_list_params(filter, history, page, page_size);
        let reader = |api: &str, status: u16, body: &[u8]| match known {
            Some(known) => read_order_list_known(api, status, body, known),
            None => read_order_list(api, status, body),
        };
        let page = self
            .call_with(Api::BUYER_ORDER_LIST, &params, &reader)
            .await?;
        page.map_err(|detail| ApiError::Malformed {
            api: Api::BUYER_ORDER_LIST.name.into(),
            detail,
        })
    }

    /// One order in detail (with logistics).
    pub async fn buyer_view(&self, order_id: i64) -> Result<Order1688, ApiError> {
        let params = vec![
            ("webSite".to_owned(), "1688".to_owned()),
            ("orderId".to_owned(), order_id.to_string()),
        ];
        let body = self.call(Api::BUYER_VIEW, &params).await?;
        let result = body.get("result").ok_or_else(|| ApiError::Malformed {
            api: Api::BUYER_VIEW.name.into(),
            detail: "no `result`".into(),
        })?;
        parse_trade_info(result).map_err(|e| ApiError::Malformed {
            api: Api::BUYER_VIEW.name.into(),
            detail: e.to_string(),
        })
    }

    /// An offer as the buyer sees it. 1688 serves `cross.productInfo` only for offers the
    /// app follows, so a permission refusal is answered by following the offer and asking
    /// once more.
    pub async fn product_info(&self, offer_id: i64) -> Result<Product1688, ApiError> {
        let params = vec![("productId".to_owned(), offer_id.to_string())];
        let body = match self.call(Api::PRODUCT_INFO, &params).await {
            Err(ApiError::Business { message, .. }) if message.contains(products::NOT_FOLLOWED) => {
                self.follow_product(offer_id).await?;
                self.call(Api::PRODUCT_INFO, &params).await?
            }
            other => other?,
        };
        products::parse_product_info(offer_id, &body).map_err(|detail| ApiError::Malformed {
            api: Api::PRODUCT_INFO.name.into(),
            detail,
        })
    }

    /// `alibaba.product.follow`: answers `code` 0 on success.
    pub async fn follow_product(&self, offer_id: i64) -> Result<(), ApiError> {
        let params = vec![("productId".to_owned(), offer_id.to_string())];
        let body = self.call(Api::PRODUCT_FOLLOW, &params).await?;
        match body.get("code").and_then(json::text).as_deref() {
            Some("0") | None => Ok(()),
            Some(code) => Err(ApiError::Business {
                api: Api::PRODUCT_FOLLOW.name.into(),
                code: code.to_owned(),
                message: json::field_text(&body, "message").unwrap_or_default(),
            }),
        }
    }

    /// Calls an API that needs the user's authorisation: rate-limited, signed, with a
    /// fresh token, retried with backoff and jitter while the failure is transient. A
    /// 401 refreshes the token and tries once more.
    pub async fn call(&self, api: Api, params: &[(String, String)]) -> Result<Value, ApiError> {
        self.call_with(api, params, &classify).await
    }

    /// [`Client1688::call`], with the answer read by `reader` instead of into a `Value`.
    pub(crate) async fn call_with<T>(
        &self,
        api: Api,
        params: &[(String, String)],
        reader: Reader<'_, T>,
    ) -> Result<T, ApiError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(self.retry.max_retries)
            .with_jitter();
        let pause = self.retry.rate_limit_pause;
        (|| self.call_authorized(api, params, reader))
            .retry(backoff)
            .when(ApiError::is_transient)
            // A rate limit asks for a longer pause than a flaky connection.
            .adjust(move |err, planned| match planned {
                Some(d) if err.is_rate_limit() => Some(d.max(pause)),
                other => other,
            })
            .notify(|err, wait| {
                crate::metrics::record_retry(err.kind());
                tracing::warn!(account = %self.account, api = api.name, kind = err.kind(), wait_ms = wait.as_millis() as u64, error = %err, "retrying 1688 call");
            })
            .await
    }

    /// One authorized attempt, without retries: for calls that must not be repeated
    /// blindly (creating or cancelling an order).
    pub async fn call_once(
        &self,
        api: Api,
        params: &[(String, String)],
    ) -> Result<Value, ApiError> {
        self.call_authorized(api, params, &classify).await
    }

    async fn call_authorized<T>(
        &self,
        api: Api,
        params: &[(String, String)],
        reader: Reader<'_, T>,
    ) -> Result<T, ApiError> {
        let token = self.access_token().await?;
        match self.send_signed(api, params, Some(&token), reader).await {
            Err(ApiError::Unauthorized { .. }) => {
                tracing::info!(account = %self.account, api = api.name, "access token refused; refreshing it once");
                self.tokens.invalidate(&token).await;
                let token = self.access_token().await?;
                self.send_signed(api, params, Some(&token), reader).await
            }
            other => other,
        }
    }

    async fn access_token(&self) -> Result<SecretString, ApiError> {
        let token = self
            .tokens
            .get(|refresh_token| self.refresh(refresh_token))
            .await?;
        if let Some((refresh, access)) = self.tokens.due_for_postpone(chrono::Utc::now()).await {
            // A failed extension is not this call's failure: the token still works, and
            // readiness warns as its expiry nears.
            match self.postpone(&refresh, &access).await {
                Ok(grant) => {
                    tracing::info!(account = %self.account, expires = ?grant.refresh_token_expires_at, "extended the refresh token");
                    self.tokens.replace(&grant, false).await;
                }
                Err(e) => {
                    tracing::warn!(account = %self.account, error = %e, "cannot extend the refresh token")
                }
            }
        }
        Ok(token)
    }

    /// How this account's authorization stands.
    pub async fn token_status(&self) -> TokenStatus {
        self.tokens.status().await
    }

    /// Exchanges an authorization code (`accounts connect`) for tokens, and keeps them.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<TokenGrant, ApiError> {
        let form = [
            ("grant_type", "authorization_code"),
            ("need_refresh_token", "true"),
            ("client_id", self.app_key.as_str()),
            ("client_secret", self.app_secret.expose_secret()),
            ("redirect_uri", redirect_uri),
            ("code", code),
        ];
        let grant = self.token_call("getToken", &form).await?;
        self.tokens.replace(&grant, true).await;
        Ok(grant)
    }

    /// `system.oauth2/postponeToken`: a new refresh token, granted only within 30 days of
    /// the current one's expiry.
    async fn postpone(
        &self,
        refresh_token: &SecretString,
        access_token: &SecretString,
    ) -> Result<TokenGrant, ApiError> {
        let form = [
            ("client_id", self.app_key.as_str()),
            ("client_secret", self.app_secret.expose_secret()),
            ("refresh_token", refresh_token.expose_secret()),
            ("access_token", access_token.expose_secret()),
        ];
        self.token_call("postponeToken", &form).await
    }

    /// A call of `system.oauth2/*`. Token calls are not signed (the official SDK declares
    /// them `need_sign=False`).
    async fn token_call(&self, api: &str, form: &[(&str, &str)]) -> Result<TokenGrant, ApiError> {
        self.limiter.until_ready().await;
        let url = format!(
            "{}/param2/1/system.oauth2/{api}/{}",
            self.api_base, self.app_key
        );
        let response = self.http.post(&url).form(form).send().await;
        let (status, body) = self.read(&format!("system.oauth2/{api}"), response).await?;
        parse_grant(&self.account, status, &body)
    }

    /// `system.oauth2/getToken` with the refresh token.
    async fn refresh(&self, refresh_token: SecretString) -> Result<TokenGrant, ApiError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("need_refresh_token", "true"),
            ("client_id", self.app_key.as_str()),
            ("client_secret", self.app_secret.expose_secret()),
            ("refresh_token", refresh_token.expose_secret()),
        ];
        let grant = self.token_call("getToken", &form).await?;
        tracing::info!(
            account = %self.account,
            member_id = grant.member_id.as_deref().unwrap_or("?"),
            "obtained a 1688 access token"
        );
        Ok(grant)
    }

    async fn send_signed<T>(
        &self,
        api: Api,
        params: &[(String, String)],
        token: Option<&SecretString>,
        reader: Reader<'_, T>,
    ) -> Result<T, ApiError> {
        self.limiter.until_ready().await;
        let url_path = signing::url_path(1, api.namespace, api.name, &self.app_key);
        let timestamp = chrono::Utc::now().timestamp_millis().to_string();
        let mut form: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        form.push(("_aop_timestamp", &timestamp));
        if let Some(token) = token {
            form.push(("access_token", token.expose_secret()));
        }
        let signature = signing::sign(
            self.app_secret.expose_secret(),
            &url_path,
            form.iter().copied(),
        );
        form.push((signing::SIGNATURE_PARAM, &signature));
        let url = format!("{}/{}", self.api_base, url_path);

        let started = Instant::now();
        let response = self.http.post(&url).form(&form).send().await;
        let outcome = match self.read(api.name, response).await {
            Ok((status, body)) => reader(api.name, status, &body),
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        let elapsed_ms = elapsed.as_millis() as u64;
        let label = match &outcome {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        crate::metrics::record_api_request(api.name, label, elapsed);
        match &outcome {
            Ok(_) => {
                tracing::debug!(account = %self.account, api = api.name, elapsed_ms, "1688 call succeeded")
            }
            Err(e) => {
                tracing::debug!(account = %self.account, api = api.name, elapsed_ms, kind = e.kind(), error = %e, "1688 call failed")
            }
        }
        outcome
    }

    async fn read(
        &self,
        api: &str,
        response: reqwest::Result<reqwest::Response>,
    ) -> Result<(u16, impl std::ops::Deref<Target = [u8]> + use<>), ApiError> {
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                ApiError::Timeout {
                    api: api.to_owned(),
                    timeout: self.timeout,
                }
            } else if e.is_body() || e.is_decode() {
                ApiError::Malformed {
                    api: api.to_owned(),
                    detail: format!("body cut off: {}", e.without_url()),
                }
            } else {
                ApiError::Transport {
                    api: api.to_owned(),
                    message: e.without_url().to_string(),
                }
            }
        };
        let response = response.map_err(transport)?;
        let status = response.status().as_u16();
        // Kept as received rather than copied: order-list pages are large.
        let body = response.bytes().await.map_err(transport)?;
        Ok((status, body))
    }
}

/// The parameters of one `getBuyerOrderList` page.
pub(crate) fn order_list_params(
    filter: OrderFilter,
    history: bool,
    page: u32,
    page_size: u32,
) -> Vec<(String, String)> {
    let mut params = vec![
        ("page".to_owned(), page.to_string()),
        ("pageSize".to_owned(), page_size.to_string()),
    ];
    let (start_key, end_key, window) = match filter {
        OrderFilter::Created(w) => ("createStartTime", "createEndTime", w),
        OrderFilter::Modified(w) => ("modifyStartTime", "modifyEndTime", w),
    };
    params.push((start_key.to_owned(), format_1688(window.start)));
    params.push((end_key.to_owned(), format_1688(window.end)));
    // `isHis` must travel as the string: a bare boolean false was seen dropped.
    params.push(("isHis".to_owned(), history.to_string()));
    params
}

/// Sorts an answer into success or one of the documented failure shapes (§8).
pub fn classify(api: &str, status: u16, body: &[u8]) -> Result<Value, ApiError> {
    let value = parse_answer(api, status, body, serde_json::from_slice)?;
    check_answer(api, status, body, &value)?;
    Ok(value)
}

/// [`classify`], with the body read into a tree that borrows from it.
pub fn classify_borrowed<'b>(api: &str, status: u16, body: &'b [u8]) -> Result<Node<'b>, ApiError> {
    let tree = parse_answer(api, status, body, node::parse)?;
    check_answer(api, status, body, &tree)?;
    Ok(tree)
}

/// Reads a `getBuyerOrderList` answer as [`Client1688::buyer_order_list`] does: classified,
/// then the page read from a tree borrowed from the body. A page that cannot be read is
/// the inner error: a malformed page is not retried.
pub fn read_order_list(
    api: &str,
    status: u16,
    body: &[u8],
) -> Result<Result<OrderListPage, String>, ApiError> {
    let tree = classify_borrowed(api, status, body)?;
    Ok(OrderListPage::from_body(&tree))
}

/// The first rules of [`classify`]: a 401 whatever the body, then a body that is not JSON.
fn parse_answer<'b, T>(
    api: &str,
    status: u16,
    body: &'b [u8],
    parse: impl FnOnce(&'b [u8]) -> serde_json::Result<T>,
) -> Result<T, ApiError> {
    if status == 401 {
        return Err(ApiError::Unauthorized {
            api: api.to_owned(),
        });
    }
    parse(body).map_err(|e| {
        if status >= 400 {
            ApiError::Http {
                api: api.to_owned(),
                status,
                snippet: snippet(body),
            }
        } else {
            ApiError::Malformed {
                api: api.to_owned(),
                detail: format!("not JSON ({e})"),
            }
        }
    })
}

/// The rest of [`classify`]'s rules, on an answer that is JSON.
pub(crate) fn check_answer<'v>(
    api: &str,
    status: u16,
    body: &[u8],
    value: impl JsonRef<'v>,
) -> Result<(), ApiError> {
    let api_name = || api.to_owned();
    if let Some(code) = value.get("error_code").and_then(json::text) {
        let message = json::field_text(value, "error_message").unwrap_or_default();
        if code.contains("FrequencyLimit") || status == 429 {
            return Err(ApiError::RateLimited {
                api: api_name(),
                code,
            });
        }
        if code == "401" {
            return Err(ApiError::Unauthorized { api: api_name() });
        }
        return Err(ApiError::Gateway {
            api: api_name(),
            status,
            code,
            message,
        });
    }
    if status == 429 {
        return Err(ApiError::RateLimited {
            api: api_name(),
            code: "HTTP 429".into(),
        });
    }
    if status >= 400 {
        return Err(ApiError::Http {
            api: api_name(),
            status,
            snippet: snippet(body),
        });
    }
    // Business errors: the key names differ per API family.
    let failed = value.get("success").and_then(json::boolean) == Some(false);
    let code = ["errorCode", "code"]
        .iter()
        .find_map(|k| json::field_text(value, k))
        .filter(|c| c != "0" && c != "200");
    if failed || (code.is_some() && value.get("result").is_none()) {
        let message = [
            "errorMessage",
            "errorMsg",
            "erroMsg",
            "message",
            "errorInfo",
        ]
        .iter()
        .find_map(|k| json::field_text(value, k))
        .unwrap_or_default();
        return Err(ApiError::Business {
            api: api_name(),
            code: code.unwrap_or_else(|| "success=false".into()),
            message,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_page_is_a_transient_http_error() {
        let err = classify(
            "x",
            502,
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        )
        .unwrap_err();
        assert!(matches!(err, ApiError::Http { status: 502, .. }));
        assert!(err.is_transient());
        assert!(err.to_string().contains("502 Bad Gateway"));
    }

    #[test]
    fn the_rate_limit_body_is_recognised() {
        let body = br#"{"error_code":"gw.QosAppFrequencyLimit","error_message":"App call exceeds limited frequency","exception":"x","request_id":"1"}"#;
        let err = classify("x", 400, body).unwrap_err();
        assert!(err.is_rate_limit() && err.is_transient());
    }

    #[test]
    fn a_bad_signature_is_permanent() {
        let body = br#"{"error_code":"gw.SignatureInvalid","error_message":"Invalid signature","request_id":"1"}"#;
        let err = classify("x", 400, body).unwrap_err();
        assert!(matches!(&err, ApiError::Gateway { code, .. } if code == "gw.SignatureInvalid"));
        assert!(!err.is_transient());
    }

    #[test]
    fn a_401_is_unauthorized_whatever_the_body() {
        assert!(matches!(
            classify("x", 401, b"Request need user authenticated"),
            Err(ApiError::Unauthorized { .. })
        ));
        assert!(matches!(
            classify("x", 400, br#"{"error_code":"401"}"#),
            Err(ApiError::Unauthorized { .. })
        ));
    }

    #[test]
    fn business_errors_use_each_api_familys_keys() {
        let logistics = classify(
            "x",
            200,
            br#"{"success":false,"errorCode":"500_2","errorMessage":"not shipped"}"#,
        )
        .unwrap_err();
        assert!(
            matches!(&logistics, ApiError::Business { code, message, .. } if code == "500_2" && message == "not shipped")
        );
        let preview = classify(
            "x",
            200,
            br#"{"success":"false","errorCode":"500_004","errorMsg":"stock"}"#,
        )
        .unwrap_err();
        assert!(matches!(&preview, ApiError::Business { message, .. } if message == "stock"));
        let list = classify(
            "x",
            200,
            br#"{"errorCode":"PARAM_ERROR","errorMessage":"createStartTime"}"#,
        )
        .unwrap_err();
        assert!(!list.is_transient());
    }

    #[test]
    fn a_truncated_body_is_malformed_and_retried() {
        let err = classify("x", 200, br#"{"result":[{"baseInfo":{"id":1"#).unwrap_err();
        assert!(matches!(err, ApiError::Malformed { .. }) && err.is_transient());
    }

    #[test]
    fn a_normal_answer_passes() {
        let v = classify("x", 200, br#"{"result":[],"totalRecord":0}"#).unwrap();
        assert_eq!(v["totalRecord"].to_string(), "0");
    }

    #[test]
    fn the_borrowed_classifier_sorts_every_answer_as_classify_does() {
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
        let mut bodies: Vec<Vec<u8>> = ["gateway_answer", "order_list", "token_answer"]
            .iter()
            .flat_map(|target| std::fs::read_dir(fuzz.join(target)).unwrap())
            .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
            .collect();
        assert!(bodies.len() >= 15, "{} seeds", bodies.len());
        for body in [
            &br#"{"error_code":"401","error_message":"x"}"#[..],
            br#"{"error_code":"gw.x","error_code":"gw.QosAppFrequencyLimit"}"#,
            br#"{"error_code":429,"error_message":["x"]}"#,
            br#"{"error_code":null,"success":"False","erroMsg":"\u4e2d"}"#,
            br#"{"success":false,"success":true}"#,
            br#"{"code":"0","errorCode":"E1","message":" ","errorInfo":"info"}"#,
            br#"{"code":200}"#,
            br#"{"code":"E","result":null}"#,
            br#"[{"error_code":"x"}]"#,
            br#"{"a":1,}"#,
            b"",
            b"\xFF{}",
        ] {
            bodies.push(body.to_vec());
        }
        for body in &bodies {
            for status in [200, 400, 401, 404, 429, 500, 502] {
                let borrowed = classify_borrowed("x", status, body).map(|tree| tree.to_value());
                let value = classify("x", status, body);
                assert_eq!(
                    format!("{borrowed:?}"),
                    format!("{value:?}"),
                    "status {status}: {}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
}
