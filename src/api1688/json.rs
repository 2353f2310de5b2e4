//! Lenient readers for 1688's JSON: ids arrive as numbers or strings, money as numbers
//! or strings, booleans as `true` or `"true"`. serde_json's `arbitrary_precision` keeps
//! each number's original text, so nothing passes through `f64`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// A 64-bit id from a JSON number or string, exactly.
pub fn id(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => parse_id(&n.to_string()),
        Value::String(s) => parse_id(s),
        _ => None,
    }
}

fn parse_id(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok()
}

/// An exact decimal from a JSON number or string.
pub fn decimal(v: &Value) -> Option<Decimal> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    if text.is_empty() {
        return None;
    }
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// Text from a string, or the text of a number or boolean.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean from `true`/`false` or their strings.
pub fn boolean(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A non-empty text field of an object.
pub fn field_text(obj: &Value, key: &str) -> Option<String> {
    obj.get(key).and_then(text).filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_above_2_pow_53_survive_as_numbers_and_strings() {
        let v: Value =
            serde_json::from_str(r#"{"a":3657499272179232333,"b":"3657499272179232333"}"#).unwrap();
        assert_eq!(id(&v["a"]), Some(3_657_499_272_179_232_333));
        assert_eq!(id(&v["b"]), Some(3_657_499_272_179_232_333));
    }

    #[test]
    fn a_float_or_negative_or_oversized_id_is_refused() {
        let v: Value =
            serde_json::from_str(r#"[5.8218860983545944e16, -1, 99999999999999999999, "", "12a"]"#)
                .unwrap();
        for item in v.as_array().unwrap() {
            assert_eq!(id(item), None, "{item}");
        }
    }

    #[test]
    fn money_keeps_its_exact_digits() {
        let v: Value =
            serde_json::from_str(r#"[39.9, "0.01", 0.1, 1e-2, 12345678901234.56]"#).unwrap();
        let got: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|x| decimal(x).unwrap().to_string())
            .collect();
        assert_eq!(got, ["39.9", "0.01", "0.1", "0.01", "12345678901234.56"]);
    }

    #[test]
    fn booleans_may_be_strings() {
        let v: Value = serde_json::from_str(r#"[true, "true", "FALSE", 1]"#).unwrap();
        let got: Vec<Option<bool>> = v.as_array().unwrap().iter().map(boolean).collect();
        assert_eq!(got, [Some(true), Some(true), Some(false), None]);
    }
}
