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
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Answer {
        status,
        content_type,
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
