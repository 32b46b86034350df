//! What the board page reports to the native side: how many runs are going (the tray shows
//! it) and the runs that just finished, failed or started waiting (desktop notifications).
//! The page may be a remote server's, so a report is bounded and checked: at most
//! [`MAX_NOTICES`] notices, short texts without control characters, and no more than
//! [`BURST`] notifications per [`WINDOW`]; the rest are summed up in one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// Notices one report may carry.
pub const MAX_NOTICES: usize = 10;
/// Notifications shown per [`WINDOW`] at most.
pub const BURST: usize = 5;
/// The window of [`BURST`].
pub const WINDOW: Duration = Duration::from_secs(10);
const MAX_TITLE: usize = 80;
const MAX_BODY: usize = 240;

/// A run that finished, failed or waits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Notice {
    /// "Run finished", …
    pub title: String,
    /// The task.
    pub body: String,
}

/// The notifications to show, given what was shown recently.
#[derive(Debug, Default)]
pub struct Limiter {
    shown: VecDeque<Instant>,
}

impl Limiter {
    /// The `notices` of one report that may be shown now, cleaned; a last one says how many
    /// were held back when the burst is used up. Refuses reports that are not bounded.
    pub fn admit(&mut self, notices: &[Notice], now: Instant) -> Result<Vec<Notice>, String> {
        if notices.len() > MAX_NOTICES {
            return Err(format!("a report carries at most {MAX_NOTICES} notices"));
        }
        while self.shown.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            self.shown.pop_front();
        }
        let mut out = Vec::new();
        let mut held = 0;
        for notice in notices {
            if self.shown.len() >= BURST {
                held += 1;
                continue;
            }
            self.shown.push_back(now);
            out.push(Notice { title: clean(&notice.title, MAX_TITLE), body: clean(&notice.body, MAX_BODY) });
        }
        if held > 0 {
            out.push(Notice {
                title: "More runs changed".into(),
                body: format!("{held} more; see the board"),
            });
        }
        Ok(out)
    }
}

/// `text` without control characters, cut at `max` characters.
fn clean(text: &str, max: usize) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().count() <= max {
        return trimmed.to_owned();
    }
    let mut cut: String = trimmed.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The tray's line for `running` runs.
pub fn running_text(running: u32) -> String {
    match running {
        0 => "No runs going".to_owned(),
        1 => "1 run going".to_owned(),
        n => format!("{n} runs going"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(n: usize) -> Vec<Notice> {
        (0..n).map(|i| Notice { title: "Run finished".into(), body: format!("task {i}") }).collect()
    }

    #[test]
    fn bursts_are_held_to_five_per_ten_seconds_and_summed_up() {
        let mut limiter = Limiter::default();
        let t0 = Instant::now();
        let shown = limiter.admit(&report(7), t0).unwrap();
        assert_eq!(shown.len(), 6);
        assert_eq!(
            shown[5],
            Notice { title: "More runs changed".into(), body: "2 more; see the board".into() }
        );
        assert_eq!(
            limiter.admit(&report(1), t0 + Duration::from_secs(5)).unwrap()[0].title,
            "More runs changed"
        );
        assert_eq!(limiter.admit(&report(1), t0 + WINDOW).unwrap()[0].body, "task 0");
    }

    #[test]
    fn reports_are_bounded_and_texts_cleaned() {
        let mut limiter = Limiter::default();
        assert!(limiter.admit(&report(MAX_NOTICES + 1), Instant::now()).is_err());
        let long = vec![Notice { title: "Run\u{1b}[31m failed\n".into(), body: "x".repeat(1000) }];
        let shown = limiter.admit(&long, Instant::now()).unwrap();
        assert_eq!(shown[0].title, "Run [31m failed");
        assert_eq!(shown[0].body.chars().count(), MAX_BODY);
        assert!(shown[0].body.ends_with('…'));
        assert_eq!(running_text(0), "No runs going");
        assert_eq!(running_text(3), "3 runs going");
    }
}
