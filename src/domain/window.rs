//! Which stretch of time a run covers.

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// A range of order creation (or modification) times, both ends inclusive, as 1688's
/// filters treat them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("--from {from} is after --to {to}")]
    Reversed { from: NaiveDate, to: NaiveDate },
    #[error("the date {0} does not exist in the configured time zone")]
    NoMidnight(NaiveDate),
}

/// Midnight at the start of `date` in `tz`, as an instant.
pub fn local_midnight(date: NaiveDate, tz: Tz) -> Result<DateTime<Utc>, WindowError> {
    tz.from_local_datetime(&date.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(WindowError::NoMidnight(date))
}

impl SyncWindow {
    /// Today and the `lookback_days - 1` days before it, from 00:00 in `tz`, until `now`.
    /// With three days, a run on 20 April covers 18, 19 and 20 April.
    pub fn lookback(now: DateTime<Utc>, tz: Tz, lookback_days: u32) -> Result<Self, WindowError> {
        let today = now.with_timezone(&tz).date_naive();
        let first = today
            .checked_sub_days(Days::new(u64::from(lookback_days.max(1) - 1)))
            .unwrap_or(today);
        Ok(SyncWindow {
            start: local_midnight(first, tz)?,
            end: now,
        })
    }

    /// The whole days `from..=to` in `tz`: from 00:00 of `from` to the last millisecond
    /// of `to`.
    pub fn dates(from: NaiveDate, to: NaiveDate, tz: Tz) -> Result<Self, WindowError> {
        if from > to {
            return Err(WindowError::Reversed { from, to });
        }
        let after = to.checked_add_days(Days::new(1)).unwrap_or(to);
        Ok(SyncWindow {
            start: local_midnight(from, tz)?,
            end: local_midnight(after, tz)? - TimeDelta::milliseconds(1),
        })
    }

    /// Cuts the window into consecutive pieces of at most `days` days, for backfills.
    pub fn chunks(&self, days: u32) -> Vec<SyncWindow> {
        let step = TimeDelta::days(i64::from(days.max(1)));
        let mut out = Vec::new();
        let mut start = self.start;
        while start <= self.end {
            let end = (start + step - TimeDelta::milliseconds(1)).min(self.end);
            out.push(SyncWindow { start, end });
            start = end + TimeDelta::milliseconds(1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn instant(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn three_days_on_20_april_start_at_midnight_of_18_april_china_time() {
        let now = instant("2026-04-20T09:30:00+08:00");
        let w = SyncWindow::lookback(now, Shanghai, 3).unwrap();
        assert_eq!(w.start, instant("2026-04-18T00:00:00+08:00"));
        assert_eq!(w.end, now);
    }

    #[test]
    fn shortly_after_utc_midnight_china_is_already_on_the_next_day() {
        // 23:30 UTC on 19 April is 07:30 on 20 April in China.
        let now = instant("2026-04-19T23:30:00Z");
        let w = SyncWindow::lookback(now, Shanghai, 3).unwrap();
        assert_eq!(w.start, instant("2026-04-18T00:00:00+08:00"));
    }

    #[test]
    fn a_date_range_covers_whole_days_inclusive() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let w = SyncWindow::dates(d("2026-03-01"), d("2026-03-02"), Shanghai).unwrap();
        assert_eq!(w.start, instant("2026-03-01T00:00:00+08:00"));
        assert_eq!(w.end, instant("2026-03-02T23:59:59.999+08:00"));
        assert!(SyncWindow::dates(d("2026-03-02"), d("2026-03-01"), Shanghai).is_err());
    }

    #[test]
    fn chunks_cover_the_window_without_gaps_or_overlap() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let w = SyncWindow::dates(d("2026-01-01"), d("2026-01-10"), Shanghai).unwrap();
        let chunks = w.chunks(3);
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].start, w.start);
        assert_eq!(chunks.last().unwrap().end, w.end);
        for pair in chunks.windows(2) {
            assert_eq!(pair[1].start - pair[0].end, TimeDelta::milliseconds(1));
        }
    }
}
