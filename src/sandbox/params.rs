//! Request parameters: the gateway reads the query string and a form body alike and
//! signs over everything it received.

/// Received parameters in arrival order (query string first, then the body). Repeated
/// keys are kept: every one of them is part of the signature.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub Vec<(String, String)>);

impl Params {
    pub(crate) fn extend_from_urlencoded(&mut self, raw: &[u8]) {
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            self.0.push((decode(k), decode(v)));
        }
    }

    /// The first value of `key`; an empty value counts as absent, as the official
    /// SDK never sends empty business parameters.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    #[cfg(test)]
    pub(crate) fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte.
fn decode(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < raw.len() => match (hex(raw[i + 1]), hex(raw[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a query value (for the OAuth redirect).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_decode_plus_and_percent_escapes() {
        let mut p = Params::default();
        p.extend_from_urlencoded(b"createStartTime=20260418000000000%2B0800&q=a+b&name=%E6%B7%B1%E7%81%B0&flag&bad=%zz%4");
        assert_eq!(p.get("createStartTime"), Some("20260418000000000+0800"));
        assert_eq!(p.get("q"), Some("a b"));
        assert_eq!(p.get("name"), Some("深灰"));
        assert!(p.has("flag"));
        assert_eq!(p.get("flag"), None);
        assert_eq!(p.get("bad"), Some("%zz%4"));
    }

    #[test]
    fn encoding_round_trips_through_decoding() {
        let s = "https://erp.example/cb?x=1&y=深 灰+";
        let mut p = Params::default();
        p.extend_from_urlencoded(format!("v={}", encode(s)).as_bytes());
        assert_eq!(p.get("v"), Some(s));
    }
}
