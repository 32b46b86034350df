//! Reading the clock times agent CLIs print when a limit resets ("1:58am", "5:46 PM",
//! "Mar 17"): plain text, no time zone database.

use chrono::{NaiveDate, NaiveTime};

/// "2:30pm", "2pm", "12am", "5:46PM".
pub fn parse_clock(s: &str) -> Option<NaiveTime> {
    let s = s.trim().to_ascii_lowercase();
    let (clock, pm) = match (s.strip_suffix("am"), s.strip_suffix("pm")) {
        (Some(c), _) => (c.trim(), false),
        (_, Some(c)) => (c.trim(), true),
        _ => return None,
    };
    let (h, m) = match clock.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (clock.parse::<u32>().ok()?, 0),
    };
    if !(1..=12).contains(&h) {
        return None;
    }
    let h = match (h, pm) {
        (12, false) => 0,
        (12, true) => 12,
        (h, true) => h + 12,
        (h, false) => h,
    };
    NaiveTime::from_hms_opt(h, m, 0)
}

/// 1 for "Jan", "January", …
pub fn month_number(s: &str) -> Option<u32> {
    let s = s.to_ascii_lowercase();
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        .iter()
        .position(|m| s.starts_with(m))
        .map(|i| i as u32 + 1)
}

/// "Jan 5" (or "Jan 5th") in `year`.
pub fn month_day(s: &str, year: i32) -> Option<NaiveDate> {
    let (month, day) = s.split_once(' ')?;
    let day = day.trim().trim_end_matches(|c: char| c.is_ascii_alphabetic());
    NaiveDate::from_ymd_opt(year, month_number(month)?, day.parse().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_times_and_dates() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0);
        assert_eq!(parse_clock("1:58am"), t(1, 58));
        assert_eq!(parse_clock("12am"), t(0, 0));
        assert_eq!(parse_clock("12:30pm"), t(12, 30));
        assert_eq!(parse_clock("5:46PM"), t(17, 46));
        assert_eq!(parse_clock("13pm"), None);
        assert_eq!(parse_clock("noon"), None);
        assert_eq!(month_day("Mar 17th", 2030), NaiveDate::from_ymd_opt(2030, 3, 17));
        assert_eq!(month_day("September 2", 2030), NaiveDate::from_ymd_opt(2030, 9, 2));
        assert_eq!(month_day("Foo 2", 2030), None);
    }
}
