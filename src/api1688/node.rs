//! A JSON tree that borrows its text from the body it was read from: strings without an
//! escape, and object keys, point into the body; objects are lists of members in the
//! body's order. Reading a page of 50 orders this way costs a fraction of a
//! `serde_json::Value` (no map nodes, no copied strings), which a re-sync of unchanged
//! orders spends most of its time on.
//!
//! The tree holds what a `Value` would hold, exactly: the readers of [`super::json`] see
//! both through [`JsonRef`], and the differential tests hold the two to the same answers.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

use super::json::{JsonRef, Kind};

/// One JSON value, borrowed from the text it was read from where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    Null,
    Bool(bool),
    /// An integer that fits 64 bits: serde_json hands these over as numbers, not text.
    Integer(Digits),
    /// Any other number, as `arbitrary_precision` writes it (`1e+2` for `1E2`).
    Number(String),
    String(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    /// The members in the body's order, duplicates kept: a lookup takes the last one,
    /// as a `Value`'s map keeps the last.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// Reads a body. The same bodies fail as with `serde_json::from_slice::<Value>`, with the
/// same error.
pub fn parse(body: &[u8]) -> serde_json::Result<Node<'_>> {
    match std::str::from_utf8(body) {
        // UTF-8 checked once here rather than string by string.
        Ok(text) => serde_json::from_str(text),
        // Never JSON; read as bytes for the very error a `Value` gets.
        Err(_) => serde_json::from_slice(body),
    }
}

impl Node<'_> {
    /// The same tree, owning all of its text.
    pub fn into_owned(self) -> Node<'static> {
        let owned = |s: Cow<'_, str>| Cow::Owned(s.into_owned());
        match self {
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::Integer(d) => Node::Integer(d),
            Node::Number(n) => Node::Number(n),
            Node::String(s) => Node::String(owned(s)),
            Node::Array(items) => Node::Array(items.into_iter().map(Node::into_owned).collect()),
            Node::Object(members) => Node::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (owned(k), v.into_owned()))
                    .collect(),
            ),
        }
    }
}

/// The decimal text of a 64-bit integer, kept inline (right-aligned) to spare an
/// allocation per number.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digits {
    start: u8,
    bytes: [u8; 20],
}

impl Digits {
    fn new(negative: bool, mut magnitude: u64) -> Digits {
        // u64::MAX has 20 digits; i64::MIN has 19 and its sign.
        let mut bytes = [0u8; 20];
        let mut start = bytes.len();
        loop {
            start -= 1;
            bytes[start] = b'0' + (magnitude % 10) as u8;
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        if negative {
            start -= 1;
            bytes[start] = b'-';
        }
        Digits {
            start: start as u8,
            bytes,
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and a sign were written.
        std::str::from_utf8(&self.bytes[self.start as usize..]).unwrap_or_default()
    }
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'v, 'a> JsonRef<'v> for &'v Node<'a> {
    type Items = std::slice::Iter<'v, Node<'a>>;

    fn kind(self) -> Kind<'v> {
        match self {
            Node::Null => Kind::Null,
            Node::Bool(b) => Kind::Bool(*b),
            Node::Integer(d) => Kind::Number(d.as_str()),
            Node::Number(n) => Kind::Number(n),
            Node::String(s) => Kind::String(s),
            Node::Array(_) => Kind::Array,
            Node::Object(_) => Kind::Object,
        }
    }

    fn get(self, key: &str) -> Option<Self> {
        match self {
            Node::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn items(self) -> Option<Self::Items> {
        match self {
            Node::Array(items) => Some(items.iter()),
            _ => None,
        }
    }

    fn to_value(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            // The text came from serde_json's own number reader, so it reads back.
            Node::Integer(_) | Node::Number(_) => match self.kind() {
                Kind::Number(text) => text.parse::<Number>().map_or(Value::Null, Value::Number),
                _ => Value::Null,
            },
            Node::String(s) => Value::String(s.to_string()),
            Node::Array(items) => Value::Array(items.iter().map(JsonRef::to_value).collect()),
            Node::Object(members) => {
                let mut map = serde_json::Map::new();
                for (k, v) in members {
                    map.insert(k.to_string(), v.to_value());
                }
                Value::Object(map)
            }
        }
    }
}

// serde_json's private map keys: with `arbitrary_precision` a number arrives as a map of
// one member named NUMBER_TOKEN, and `Value` also reads a body's object whose first key is
// NUMBER_TOKEN (or RAW_VALUE_TOKEN, with `raw_value`) as a number (or as the JSON text of
// its string). The tree does the same, so that no body reads differently.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        NodeSeed {
            scratch: &mut Scratch::default(),
        }
        .deserialize(deserializer)
    }
}

/// The members and items of the objects and arrays being read, one stack each for the
/// whole tree, so that every object and array is allocated once, at its exact size.
#[derive(Default)]
struct Scratch<'de> {
    members: Vec<(Cow<'de, str>, Node<'de>)>,
    items: Vec<Node<'de>>,
}

/// Reads one value, its objects and arrays through `scratch`.
struct NodeSeed<'s, 'de> {
    scratch: &'s mut Scratch<'de>,
}

impl<'de> NodeSeed<'_, 'de> {
    fn child(&mut self) -> NodeSeed<'_, 'de> {
        NodeSeed {
            scratch: &mut *self.scratch,
        }
    }
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, 'de> {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, 'de> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Node<'de>, E> {
        Ok(Node::Integer(Digits::new(n < 0, n.unsigned_abs())))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Node<'de>, E> {
        Ok(Node::Integer(Digits::new(false, n)))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node::String(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node<'de>, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let start = self.scratch.items.len();
        while let Some(item) = seq.next_element_seed(self.child())? {
            self.scratch.items.push(item);
        }
        Ok(Node::Array(self.scratch.items.drain(start..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Node<'de>, A::Error> {
        let Some(first) = map.next_key_seed(KEY)? else {
            return Ok(Node::Object(Vec::new()));
        };
        match &*first {
            NUMBER_TOKEN => map.next_value_seed(NumberText).map(Node::Number),
            RAW_VALUE_TOKEN => {
                let text = map.next_value_seed(RAW_TEXT)?;
                let node = match text {
                    Cow::Borrowed(text) => serde_json::from_str(text),
                    Cow::Owned(text) => serde_json::from_str::<Node>(&text).map(Node::into_owned),
                };
                node.map_err(de::Error::custom)
            }
            _ => {
                let start = self.scratch.members.len();
                let mut key = Some(first);
                while let Some(k) = key {
                    let value = map.next_value_seed(self.child())?;
                    self.scratch.members.push((k, value));
                    key = map.next_key_seed(KEY)?;
                }
                Ok(Node::Object(self.scratch.members.drain(start..).collect()))
            }
        }
    }
}

/// A string, borrowed when it has no escape: an object key, or the JSON text behind
/// RAW_VALUE_TOKEN.
pub(crate) struct Text {
    expecting: &'static str,
}

pub(crate) const KEY: Text = Text {
    expecting: "a string key",
};
const RAW_TEXT: Text = Text {
    expecting: "raw value",
};

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s))
    }
}

/// The text of a number behind NUMBER_TOKEN, as `Value` reads it.
struct NumberText;

impl<'de> DeserializeSeed<'de> for NumberText {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NumberText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("string containing a number")
    }

    /// A number of the body: serde_json's number reader wrote this text, and reading it
    /// again (as `Value` does) gives it back unchanged, so it is kept as it is.
    fn visit_string<E>(self, s: String) -> Result<String, E> {
        Ok(s)
    }

    /// A string the body itself put behind the token, which must read as a number.
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        let number: Number = s.parse().map_err(de::Error::custom)?;
        Ok(number.as_str().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body read into a tree (shown as a `Value`) and into a `Value`; errors as text.
    fn both_ways(body: &[u8]) -> (Result<Value, String>, Result<Value, String>) {
        let tree = parse(body).map(|t| t.to_value());
        let value = serde_json::from_slice::<Value>(body);
        (
            tree.map_err(|e| e.to_string()),
            value.map_err(|e| e.to_string()),
        )
    }

    /// Bodies that a lenient reader gets wrong most easily.
    const HOSTILE: &[&str] = &[
        r#"{"a":1,"b":{"c":[]},"a":"2"}"#,
        r#"{"\u0061":1,"a":2,"b\"c":"\u4e2d\ud83d\ude00","\n":"\\"}"#,
        r#"[0,-0,-0.0,1E2,1e-2,1.50,-1.0e+3,0.000,1e400,-1e400]"#,
        r#"[9007199254740993,18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809]"#,
        r#"{"$serde_json::private::Number":"1E2"}"#,
        r#"{"$serde_json::private::Number":"12"}"#,
        r#"{"$serde_json::private::Number":"-0"}"#,
        r#"{"$serde_json::private::Number":"\u0031"}"#,
        r#"{"$serde_json::private::Number":" 12"}"#,
        r#"{"$serde_json::private::Number":12}"#,
        r#"{"$serde_json::private::Number":"1","a":2}"#,
        r#"{"a":1,"$serde_json::private::Number":"1"}"#,
        r#"{"$serde_json::private::RawValue":"{\"a\":[1,\"\\u4e2d\"],\"a\":2}"}"#,
        r#"{"$serde_json::private::RawValue":"{\"a\":1}"}"#,
        r#"{"$serde_json::private::RawValue":"{\"$serde_json::private::Number\":\"5\"}"}"#,
        r#"{"$serde_json::private::RawValue":"nope"}"#,
        r#"{"$serde_json::private::RawValue":7}"#,
        r#"{"x":{"$serde_json::private::Number":"1.5"}}"#,
        "",
        " ",
        "nul",
        "[1,]",
        r#"{"a":1,}"#,
        r#"{"a":1"#,
        r#"{"result":[]} x"#,
        "\u{feff}{}",
        r#""\ud800""#,
        r#""\udc00""#,
        r#""\ud83d\u0041""#,
        "[\"\u{1}\"]",
        r#"[true,false,null,"",{},[]]"#,
    ];

    #[test]
    fn hostile_bodies_read_exactly_as_a_value_reads_them() {
        let mut bodies: Vec<Vec<u8>> = HOSTILE.iter().map(|b| b.as_bytes().to_vec()).collect();
        for depth in [126, 127, 128, 129] {
            bodies.push(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes());
        }
        bodies.push(b"{\"a\":\"\xC3\x28\"}".to_vec());
        bodies.push(b"{\"a\":1}\xFF".to_vec());
        bodies.push(b"\xFF".to_vec());
        for body in bodies {
            let (tree, value) = both_ways(&body);
            assert_eq!(tree, value, "{}", String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn a_later_duplicate_key_wins_and_escaped_keys_match_their_text() {
        let tree = parse(br#"{"a":1,"\u0061":2,"b":{"c":3},"b":null}"#).unwrap();
        assert_eq!(tree.get("a").map(JsonRef::kind), Some(Kind::Number("2")));
        assert_eq!(tree.get("b").map(JsonRef::kind), Some(Kind::Null));
    }

    #[test]
    fn strings_without_an_escape_are_borrowed_and_escaped_ones_decoded() {
        let tree = parse(br#"{"plain":"ab","escaped":"\u4e2d\"","k\u0065y":1}"#).unwrap();
        let Node::Object(members) = &tree else {
            panic!("{tree:?}")
        };
        assert!(matches!(
            &members[0],
            (Cow::Borrowed("plain"), Node::String(Cow::Borrowed("ab")))
        ));
        assert!(matches!(&members[1].1, Node::String(Cow::Owned(s)) if s == "中\""));
        assert!(matches!(&members[2].0, Cow::Owned(k) if k == "key"));
    }

    #[test]
    fn numbers_keep_the_text_a_value_gives_them() {
        let tree = parse(br#"[0,18446744073709551615,-9223372036854775808,1E2,-0,3.10]"#).unwrap();
        let texts: Vec<Kind> = tree.items().unwrap().map(JsonRef::kind).collect();
        assert_eq!(
            texts,
            [
                Kind::Number("0"),
                Kind::Number("18446744073709551615"),
                Kind::Number("-9223372036854775808"),
                Kind::Number("1e+2"),
                Kind::Number("-0"),
                Kind::Number("3.10"),
            ]
        );
    }
}
