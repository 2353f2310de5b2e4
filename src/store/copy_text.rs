//! Rows in PostgreSQL's `COPY … FROM STDIN` text format. A cold sync inserts nearly all
//! of its lines into purchase orders it has just created; `COPY` loads them for about a
//! third of what the same rows cost through `INSERT … SELECT FROM UNNEST(…)`.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;

/// One `COPY` payload: rows of tab-separated fields, `\N` for NULL.
#[derive(Default)]
pub(crate) struct CopyText {
    buffer: String,
    /// Whether the current row has a field yet (the next one needs a tab first).
    in_row: bool,
}

impl CopyText {
    pub(crate) fn is_empty(&self) -> bool {
        self.buffer.is_empty()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buffer.as_bytes()
    }

    fn separate(&mut self) {
        if self.in_row {
            self.buffer.push('\t');
        }
        self.in_row = true;
    }

    /// Text, escaped: a backslash, tab, newline or carriage return in the value would
    /// otherwise end the field or the row.
    pub(crate) fn text(&mut self, value: &str) -> &mut Self {
        self.separate();
        let mut plain_from = 0;
        for (i, byte) in value.bytes().enumerate() {
            let escaped = match byte {
                b'\\' => "\\\\",
                b'\t' => "\\t",
                b'\n' => "\\n",
                b'\r' => "\\r",
                _ => continue,
            };
            // ASCII bytes are always character boundaries.
            self.buffer.push_str(&value[plain_from..i]);
            self.buffer.push_str(escaped);
            plain_from = i + 1;
        }
        self.buffer.push_str(&value[plain_from..]);
        self
    }

    pub(crate) fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    pub(crate) fn int(&mut self, value: i64) -> &mut Self {
        self.separate();
        let _ = write!(self.buffer, "{value}");
        self
    }

    pub(crate) fn opt_int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            Some(v) => self.int(v),
            None => self.null(),
        }
    }

    /// `Decimal`'s `Display` writes plain digits with the value's own scale: what
    /// `numeric` reads back exactly.
    pub(crate) fn decimal(&mut self, value: Decimal) -> &mut Self {
        self.separate();
        let _ = write!(self.buffer, "{value}");
        self
    }

    pub(crate) fn opt_decimal(&mut self, value: Option<Decimal>) -> &mut Self {
        match value {
            Some(v) => self.decimal(v),
            None => self.null(),
        }
    }

    pub(crate) fn boolean(&mut self, value: bool) -> &mut Self {
        self.separate();
        self.buffer.push(if value { 't' } else { 'f' });
        self
    }

    /// An instant in UTC to the microsecond, as `timestamptz` keeps it (sqlx's binary
    /// encoding also drops what is finer).
    pub(crate) fn instant(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.separate();
        self.buffer
            .push_str(&value.to_rfc3339_opts(SecondsFormat::Micros, true));
        self
    }

    pub(crate) fn opt_instant(&mut self, value: Option<DateTime<Utc>>) -> &mut Self {
        match value {
            Some(v) => self.instant(v),
            None => self.null(),
        }
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.separate();
        self.buffer.push_str("\\N");
        self
    }

    pub(crate) fn end_row(&mut self) {
        self.buffer.push('\n');
        self.in_row = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(build: impl FnOnce(&mut CopyText)) -> String {
        let mut copy = CopyText::default();
        build(&mut copy);
        copy.end_row();
        String::from_utf8(copy.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn fields_are_separated_by_tabs_and_rows_end_with_a_newline() {
        let text = row(|c| {
            c.int(-7).text("红色").decimal(Decimal::new(3990, 2)).null();
        });
        assert_eq!(text, "-7\t红色\t39.90\t\\N\n");
    }

    #[test]
    fn control_characters_and_backslashes_in_text_are_escaped() {
        let text = row(|c| {
            c.text("a\\b\tc\nd\re\\").text("\\N");
        });
        assert_eq!(text, "a\\\\b\\tc\\nd\\re\\\\\t\\\\N\n");
    }

    #[test]
    fn missing_values_are_null_and_present_ones_are_written() {
        let text = row(|c| {
            c.opt_text(None)
                .opt_text(Some(""))
                .opt_int(None)
                .opt_int(Some(3_657_499_272_179_232_333))
                .opt_decimal(None)
                .opt_decimal(Some(Decimal::new(-1, 2)));
        });
        assert_eq!(text, "\\N\t\t\\N\t3657499272179232333\t\\N\t-0.01\n");
    }

    #[test]
    fn instants_are_utc_to_the_microsecond_and_booleans_are_t_or_f() {
        let at = DateTime::parse_from_rfc3339("2018-08-01T10:43:33.123456789+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let text = row(|c| {
            c.instant(at).opt_instant(None).boolean(true).boolean(false);
        });
        assert_eq!(text, "2018-08-01T02:43:33.123456Z\t\\N\tt\tf\n");
    }

    #[test]
    fn rows_follow_one_another() {
        let mut copy = CopyText::default();
        assert!(copy.is_empty());
        copy.int(1);
        copy.end_row();
        copy.int(2);
        copy.end_row();
        assert!(!copy.is_empty());
        assert_eq!(copy.as_bytes(), b"1\n2\n");
    }
}
