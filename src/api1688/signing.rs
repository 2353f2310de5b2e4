//! The AOP gateway's request signature (`_aop_signature`), 1688-open-api.md §2.
//!
//! `HMAC-SHA1(appSecret, urlPath + sorted(key + value …))` in upper-case hex, where the
//! sort is over the concatenated `key + value` strings (the official SDKs' order), not
//! over the keys.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// The path that is signed: `param2/{version}/{namespace}/{api}/{appKey}`, with no
/// leading slash and no `/openapi/`.
pub fn url_path(version: u32, namespace: &str, api: &str, app_key: &str) -> String {
    format!("param2/{version}/{namespace}/{api}/{app_key}")
}

/// The string that is signed, for tests and diagnostics. It contains parameter values
/// (the access token among them): never log it.
pub fn string_to_sign<'a>(
    url_path: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    let mut pairs: Vec<String> = params
        .into_iter()
        .filter(|(k, _)| *k != SIGNATURE_PARAM)
        .map(|(k, v)| format!("{k}{v}"))
        .collect();
    pairs.sort_unstable();
    let mut message =
        String::with_capacity(url_path.len() + pairs.iter().map(String::len).sum::<usize>());
    message.push_str(url_path);
    for p in &pairs {
        message.push_str(p);
    }
    message
}

/// The parameter that carries the signature; it is never part of what is signed.
pub const SIGNATURE_PARAM: &str = "_aop_signature";

/// Signs a request: `params` are every parameter actually sent, raw (not URL-encoded).
pub fn sign<'a>(
    secret: &str,
    url_path: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    hmac_sha1_upper_hex(secret, &string_to_sign(url_path, params))
}

/// Upper-case hex HMAC-SHA1 of `message` under `secret`.
pub fn hmac_sha1_upper_hex(secret: &str, message: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

/// Checks a received signature in constant time. The comparison ignores case, as the
/// official message verifier does.
pub fn verify<'a>(
    secret: &str,
    url_path: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    signature: &str,
) -> bool {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign(url_path, params).as_bytes());
    match hex::decode(signature.to_ascii_uppercase()) {
        Ok(bytes) => mac.verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TV1: the documented official vector.
    #[test]
    fn tv1_the_documented_current_time_vector_matches() {
        let path = url_path(1, "system", "currentTime", "1000000");
        assert_eq!(path, "param2/1/system/currentTime/1000000");
        let params = [("b", "2"), ("a", "1")];
        assert_eq!(
            string_to_sign(&path, params),
            "param2/1/system/currentTime/1000000a1b2"
        );
        assert_eq!(
            sign("test123", &path, params),
            "33E54F4F7B989E3E0E912D3FBD2F1A03CA7CCE88"
        );
    }

    /// TV2: an order-list request with a token, a timestamp and `+` in the dates
    /// (computed with python3 `hmac` and re-checked with `openssl dgst -sha1 -hmac`).
    #[test]
    fn tv2_an_order_list_request_signs_raw_values_in_k_plus_v_order() {
        let path = url_path(
            1,
            "com.alibaba.trade",
            "alibaba.trade.getBuyerOrderList",
            "1234567",
        );
        let params = [
            ("access_token", "81dfefd1-7a2c-4b4e-9d5e-3f1e2a4b5c6d"),
            ("page", "1"),
            ("pageSize", "50"),
            ("createStartTime", "20260418000000000+0800"),
            ("createEndTime", "20260420093000000+0800"),
            ("_aop_timestamp", "1776648600000"),
        ];
        assert_eq!(
            sign("sandbox-secret", &path, params),
            "478525F7BFF9F679E4BAA738B74BF898D4F521EB"
        );
    }

    /// Where one key is a prefix of another, sorting `k+v` strings and sorting keys
    /// differ: `ab1` < `az`, but key order would put `a` first.
    #[test]
    fn the_sort_is_over_key_plus_value_strings_not_keys() {
        let path = url_path(1, "system", "currentTime", "1000000");
        let official = sign("test123", &path, [("a", "z"), ("ab", "1")]);
        assert_eq!(official, "8455C1445CD6FD189617EBA7A8A5C98E78786564");
        let key_sorted = hmac_sha1_upper_hex("test123", "param2/1/system/currentTime/1000000azab1");
        assert_ne!(official, key_sorted);
    }

    #[test]
    fn verification_ignores_case_and_the_signature_parameter_itself() {
        let path = url_path(1, "system", "currentTime", "1000000");
        let sig = "33e54f4f7b989e3e0e912d3fbd2f1a03ca7cce88";
        assert!(verify(
            "test123",
            &path,
            [("a", "1"), ("b", "2"), ("_aop_signature", sig)],
            sig
        ));
        assert!(!verify("test123", &path, [("a", "1"), ("b", "3")], sig));
        assert!(!verify(
            "test123",
            &path,
            [("a", "1"), ("b", "2")],
            "not hex"
        ));
    }
}
