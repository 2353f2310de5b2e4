//! Raw calls to the sandbox gateway, signed with the crate's own signing code: for
//! tests that check the wire protocol rather than the client.

use std::time::Duration;

use serde_json::Value;
use sync1688::api1688::signing;
use sync1688::sandbox::SandboxHandle;

/// One HTTP answer, read in full.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    /// The `Location` header, for redirects.
    pub location: Option<String>,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The gateway's `error_code` (`""` if there is none).
    pub fn error_code(&self) -> String {
        self.json()["error_code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The OAuth `error` of a token call (`""` if there is none).
    pub fn oauth_error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let content_type = header("content-type").unwrap_or_default();
    let location = header("location");
    Answer {
        status,
        content_type,
        location,
        text: resp.text().await.unwrap(),
    }
}

/// `…/openapi/param2/1/{namespace}/{api}/{appKey}` of `sb`.
pub fn api_url(sb: &SandboxHandle, namespace: &str, api: &str) -> String {
    format!(
        "{}/param2/1/{namespace}/{api}/{}",
        sb.base_url(),
        sb.config().app_key
    )
}

/// POSTs `params` (plus `access_token` when given) signed the official way.
pub async fn call(
    sb: &SandboxHandle,
    namespace: &str,
    api: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> Answer {
    let mut all: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(t) = token {
        all.push(("access_token".into(), t.into()));
    }
    let path = signing::url_path(1, namespace, api, &sb.config().app_key);
    let sig = signing::sign(
        &sb.config().app_secret,
        &path,
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    );
    all.push((signing::SIGNATURE_PARAM.into(), sig));
    answer(
        http()
            .post(api_url(sb, namespace, api))
            .form(&all)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// POSTs `params` (plus `access_token` when given) with no signature at all.
pub async fn call_unsigned(
    sb: &SandboxHandle,
    namespace: &str,
    api: &str,
    params: &[(&str, &str)],
    token: Option<&str>,
) -> Answer {
    let mut all: Vec<(&str, &str)> = params.to_vec();
    if let Some(t) = token {
        all.push(("access_token", t));
    }
    answer(
        http()
            .post(api_url(sb, namespace, api))
            .form(&all)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A fresh access token from `getToken` with the configured refresh token.
pub async fn access_token(sb: &SandboxHandle) -> String {
    let c = sb.config().clone();
    let a = answer(
        http()
            .post(api_url(sb, "system.oauth2", "getToken"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("client_id", &c.app_key),
                ("client_secret", &c.app_secret),
                ("refresh_token", &c.refresh_token),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "getToken: {}", a.text);
    a.json()["access_token"].as_str().unwrap().to_owned()
}

/// POSTs an unsigned form to `system.oauth2/{api}` (`getToken`, `postponeToken`), as
/// OAuth clients do.
pub async fn oauth(sb: &SandboxHandle, api: &str, form: &[(&str, &str)]) -> Answer {
    answer(
        http()
            .post(api_url(sb, "system.oauth2", api))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A client that shows redirects instead of following them.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs the sandbox's authorize page with these query parameters, without following
/// the redirect.
pub async fn authorize(sb: &SandboxHandle, query: &[(&str, &str)]) -> Answer {
    let url = reqwest::Url::parse_with_params(&sb.authorize_url_base(), query).unwrap();
    answer(no_redirects().get(url).send().await.unwrap()).await
}

/// The first value of `name` in the query of `url`.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap_or_else(|e| panic!("not a URL ({e}): {url}"))
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Sends the buyer through the authorize page for the configured app and returns the
/// `code` the redirect to `redirect_uri` carries.
pub async fn authorization_code(sb: &SandboxHandle, redirect_uri: &str) -> String {
    let a = authorize(
        sb,
        &[
            ("client_id", &sb.config().app_key),
            ("site", "1688"),
            ("redirect_uri", redirect_uri),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(a.status, 302, "authorize: {}", a.text);
    query_param(a.location.as_deref().unwrap(), "code").expect("the redirect has a code")
}

/// `getToken` with `grant_type=authorization_code`, the documented form.
pub async fn exchange_code(sb: &SandboxHandle, code: &str, redirect_uri: &str) -> Answer {
    let c = sb.config().clone();
    oauth(
        sb,
        "getToken",
        &[
            ("grant_type", "authorization_code"),
            ("need_refresh_token", "true"),
            ("client_id", &c.app_key),
            ("client_secret", &c.app_secret),
            ("redirect_uri", redirect_uri),
            ("code", code),
        ],
    )
    .await
}

/// `getToken` with `grant_type=refresh_token`, the token sent under `field`
/// (`refresh_token`, or the PHP SDK's `refreshToken`).
pub async fn refresh_with(sb: &SandboxHandle, field: &str, refresh_token: &str) -> Answer {
    let c = sb.config().clone();
    oauth(
        sb,
        "getToken",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.app_key),
            ("client_secret", &c.app_secret),
            (field, refresh_token),
        ],
    )
    .await
}

/// `postponeToken` with the documented form.
pub async fn postpone(sb: &SandboxHandle, refresh_token: &str, access_token: &str) -> Answer {
    let c = sb.config().clone();
    oauth(
        sb,
        "postponeToken",
        &[
            ("client_id", &c.app_key),
            ("client_secret", &c.app_secret),
            ("refresh_token", refresh_token),
            ("access_token", access_token),
        ],
    )
    .await
}

/// Connects a buyer the way an ERP would (authorize, then exchange the code for
/// `redirect_uri`) and returns the token answer.
pub async fn connect(sb: &SandboxHandle, redirect_uri: &str) -> Value {
    let code = authorization_code(sb, redirect_uri).await;
    let a = exchange_code(sb, &code, redirect_uri).await;
    assert_eq!(a.status, 200, "code exchange: {}", a.text);
    a.json()
}
