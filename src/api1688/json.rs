//! Lenient readers for 1688's JSON: ids arrive as numbers or strings, money as numbers
//! or strings, booleans as `true` or `"true"`. serde_json's `arbitrary_precision` keeps
//! each number's text, so nothing passes through `f64`.
//!
//! The readers see JSON through [`JsonRef`], so that one copy of them serves both a
//! `serde_json::Value` and a [`Node`](super::node::Node) borrowed from the body (how
//! order-list pages are read, without building a `Value`).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// What a reader sees of one JSON value; numbers as their `arbitrary_precision` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'v> {
    Null,
    Bool(bool),
    Number(&'v str),
    String(&'v str),
    Array,
    Object,
}

/// A JSON value in some tree, borrowed for `'v`.
pub trait JsonRef<'v>: Copy {
    type Items: Iterator<Item = Self>;

    fn kind(self) -> Kind<'v>;

    /// An object's member; the last one when a key is repeated.
    fn get(self, key: &str) -> Option<Self>;

    /// An array's items.
    fn items(self) -> Option<Self::Items>;

    /// The value as a `serde_json::Value`, for messages.
    fn to_value(self) -> Value;

    fn is_null(self) -> bool {
        self.kind() == Kind::Null
    }
}

impl<'v> JsonRef<'v> for &'v Value {
    type Items = std::slice::Iter<'v, Value>;

    fn kind(self) -> Kind<'v> {
        match self {
            Value::Null => Kind::Null,
            Value::Bool(b) => Kind::Bool(*b),
            Value::Number(n) => Kind::Number(n.as_str()),
            Value::String(s) => Kind::String(s),
            Value::Array(_) => Kind::Array,
            Value::Object(_) => Kind::Object,
        }
    }

    fn get(self, key: &str) -> Option<Self> {
        Value::get(self, key)
    }

    fn items(self) -> Option<Self::Items> {
        self.as_array().map(|items| items.iter())
    }

    fn to_value(self) -> Value {
        self.clone()
    }
}

/// A 64-bit id from a JSON number or string, exactly.
pub fn id<'v>(v: impl JsonRef<'v>) -> Option<i64> {
    match v.kind() {
        Kind::Number(s) | Kind::String(s) => parse_id(s),
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
pub fn decimal<'v>(v: impl JsonRef<'v>) -> Option<Decimal> {
    let text = match v.kind() {
        Kind::Number(s) => s,
        Kind::String(s) => s.trim(),
        _ => return None,
    };
    if text.is_empty() {
        return None;
    }
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .ok()
}

/// Text from a string, or the text of a number or boolean.
pub fn text<'v>(v: impl JsonRef<'v>) -> Option<String> {
    text_str(v).map(str::to_owned)
}

/// [`text`], borrowed.
pub fn text_str<'v>(v: impl JsonRef<'v>) -> Option<&'v str> {
    match v.kind() {
        Kind::String(s) | Kind::Number(s) => Some(s),
        Kind::Bool(true) => Some("true"),
        Kind::Bool(false) => Some("false"),
        Kind::Null | Kind::Array | Kind::Object => None,
    }
}

/// A boolean from `true`/`false` or their strings.
pub fn boolean<'v>(v: impl JsonRef<'v>) -> Option<bool> {
    match v.kind() {
        Kind::Bool(b) => Some(b),
        Kind::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Kind::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A non-empty text field of an object.
pub fn field_text<'v>(obj: impl JsonRef<'v>, key: &str) -> Option<String> {
    obj.get(key)
        .and_then(text_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

/// The items of an optional list: a missing or null member is an empty list; `None`
/// when the member is something else.
pub fn optional_list<'v, J: JsonRef<'v>>(v: Option<J>) -> Option<impl Iterator<Item = J>> {
    let items = match v {
        None => None,
        Some(v) if v.is_null() => None,
        Some(v) => Some(v.items()?),
    };
    Some(items.into_iter().flatten())
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
