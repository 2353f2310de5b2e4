//! 1688's time formats (1688-open-api.md §1): `yyyyMMddHHmmssSSS±hhmm` for most fields,
//! sometimes without milliseconds, and `yyyy-MM-dd HH:mm:ss` (China time) for a few.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};

/// The offset 1688 writes and assumes: China Standard Time (no daylight saving).
pub fn china() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// Formats an instant as 1688 expects dates in requests: `yyyyMMddHHmmssSSS+0800`.
pub fn format_1688(t: DateTime<Utc>) -> String {
    t.with_timezone(&china())
        .format("%Y%m%d%H%M%S%3f%z")
        .to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised 1688 time `{0}`")]
pub struct TimeParseError(pub String);

/// Parses any time format 1688 is known to send. A string without an offset is China
/// time.
pub fn parse_1688(s: &str) -> Result<DateTime<Utc>, TimeParseError> {
    let s = s.trim();
    let bad = || TimeParseError(s.to_owned());
    let bytes = s.as_bytes();
    // yyyyMMddHHmmss[SSS]±hhmm
    if bytes.len() >= 19
        && matches!(bytes[bytes.len() - 5], b'+' | b'-')
        && s.is_char_boundary(bytes.len() - 5)
    {
        let (stamp, offset) = s.split_at(s.len() - 5);
        let offset = parse_offset(offset).ok_or_else(bad)?;
        let naive = match stamp.len() {
            17 => NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S%3f"),
            14 => NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S"),
            _ => return Err(bad()),
        }
        .map_err(|_| bad())?;
        return local(offset, naive).ok_or_else(bad);
    }
    // yyyy-MM-dd HH:mm:ss[.SSS], China time
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return local(china(), naive).ok_or_else(bad);
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    Err(bad())
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = &s[1..];
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let hours: i32 = digits[..2].parse().ok()?;
    let minutes: i32 = digits[2..].parse().ok()?;
    if minutes >= 60 {
        return None;
    }
    FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
}

fn local(offset: FixedOffset, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    offset
        .from_local_datetime(&naive)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_usual_format_keeps_its_offset() {
        assert_eq!(
            parse_1688("20180802211113000+0800").unwrap(),
            utc("2018-08-02T13:11:13Z")
        );
        assert_eq!(
            parse_1688("20170913231708000-0700").unwrap(),
            utc("2017-09-14T06:17:08Z")
        );
        assert_eq!(
            parse_1688("20180802211113123+0800").unwrap(),
            utc("2018-08-02T13:11:13.123Z")
        );
    }

    #[test]
    fn a_refresh_token_timeout_may_lack_milliseconds() {
        assert_eq!(
            parse_1688("20121222222222+0800").unwrap(),
            utc("2012-12-22T14:22:22Z")
        );
    }

    #[test]
    fn dashed_times_are_china_time() {
        assert_eq!(
            parse_1688("2024-08-09 09:44:24").unwrap(),
            utc("2024-08-09T01:44:24Z")
        );
    }

    #[test]
    fn garbage_is_an_error_that_names_the_value() {
        for s in [
            "",
            "2018",
            "20180802211113000+08",
            "20180802211113000*0800",
            "2018080221111300a+0800",
            "二〇一八年",
        ] {
            let err = parse_1688(s).unwrap_err();
            assert_eq!(err.0, s.trim());
        }
    }

    #[test]
    fn formatting_round_trips_in_china_time() {
        let t = utc("2026-04-17T16:00:00.000Z");
        assert_eq!(format_1688(t), "20260418000000000+0800");
        assert_eq!(parse_1688(&format_1688(t)).unwrap(), t);
    }
}
