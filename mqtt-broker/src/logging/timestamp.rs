//! The timestamp at the start of each log line: mosquitto's default (seconds since the Unix epoch)
//! or a `strftime`-like `log_timestamp_format`.
//!
//! The supported subset of conversions is `%Y %m %d %H %M %S %j %y %e %F %T %s %z %Z %%` (plus `%f`
//! is not; see README). Times are in UTC: the broker has no time-zone database (mosquitto uses local
//! time), so `%z` is always `+0000` and `%Z` is `UTC`. An unknown conversion is written as it
//! stands, so a typo shows in the log rather than silently vanishing.

use std::fmt::Write;

/// The broker-wide time source for log lines: seconds since the Unix epoch.
pub(crate) fn now_epoch_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// Formats `epoch` (seconds since 1970-01-01T00:00:00Z) with `format`, or as plain seconds if
/// `format` is `None`.
pub(crate) fn format(epoch: u64, format: Option<&str>) -> String {
    let Some(format) = format else {
        return epoch.to_string();
    };
    let civil = Civil::from_epoch(epoch);
    let mut out = String::with_capacity(format.len() + 8);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        // `write!` to a String cannot fail.
        let _ = match chars.next() {
            Some('Y') => write!(out, "{:04}", civil.year),
            Some('y') => write!(out, "{:02}", civil.year.rem_euclid(100)),
            Some('m') => write!(out, "{:02}", civil.month),
            Some('d') => write!(out, "{:02}", civil.day),
            Some('e') => write!(out, "{:2}", civil.day),
            Some('H') => write!(out, "{:02}", civil.hour),
            Some('M') => write!(out, "{:02}", civil.minute),
            Some('S') => write!(out, "{:02}", civil.second),
            Some('j') => write!(out, "{:03}", civil.day_of_year),
            Some('F') => write!(out, "{:04}-{:02}-{:02}", civil.year, civil.month, civil.day),
            Some('T') => write!(
                out,
                "{:02}:{:02}:{:02}",
                civil.hour, civil.minute, civil.second
            ),
            Some('s') => write!(out, "{epoch}"),
            Some('z') => write!(out, "+0000"),
            Some('Z') => write!(out, "UTC"),
            Some('%') => write!(out, "%"),
            Some(other) => write!(out, "%{other}"),
            None => write!(out, "%"),
        };
    }
    out
}

/// A UTC calendar date and time.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
    /// 1 for January 1st.
    pub(crate) day_of_year: u32,
}

impl Civil {
    /// Splits seconds since the epoch into a date, with the proleptic Gregorian calendar
    /// (Howard Hinnant's days-to-civil algorithm, rewritten here).
    pub(crate) fn from_epoch(epoch: u64) -> Self {
        let days = i64::try_from(epoch / 86_400).unwrap_or(i64::MAX / 2);
        let seconds = epoch % 86_400;
        // Shift to an era starting on March 1st, year 0, so that leap days fall at an era's end.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_march_year =
            day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_march_year + 2) / 153;
        let day = (day_of_march_year - (153 * month_from_march + 2) / 5 + 1) as u32;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        } as u32;
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let before_month = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let day_of_year = before_month[month as usize - 1] + day + u32::from(leap && month > 2);
        Self {
            year,
            month,
            day,
            hour: (seconds / 3600) as u32,
            minute: (seconds / 60 % 60) as u32,
            second: (seconds % 60) as u32,
            day_of_year,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_seconds_since_the_epoch_like_mosquitto() {
        assert_eq!(format(1_700_000_000, None), "1700000000");
    }

    #[test]
    fn the_iso_form_mosquitto_documents_is_supported() {
        // 1700000000 is 2023-11-14T22:13:20Z.
        assert_eq!(
            format(1_700_000_000, Some("%Y-%m-%dT%H:%M:%S")),
            "2023-11-14T22:13:20"
        );
        assert_eq!(
            format(1_700_000_000, Some("%F %T%z %Z %j %y %s %%")),
            "2023-11-14 22:13:20+0000 UTC 318 23 1700000000 %"
        );
    }

    #[test]
    fn leap_days_and_year_ends_are_placed_right() {
        // 2024-02-29T00:00:00Z and 2000-12-31T23:59:59Z.
        assert_eq!(format(1_709_164_800, Some("%F %j")), "2024-02-29 060");
        assert_eq!(
            format(978_307_199, Some("%F %T %j")),
            "2000-12-31 23:59:59 366"
        );
        assert_eq!(format(0, Some("%F %T")), "1970-01-01 00:00:00");
    }

    #[test]
    fn an_unknown_or_trailing_conversion_is_kept_visible() {
        assert_eq!(format(0, Some("%Q %")), "%Q %");
    }
}
