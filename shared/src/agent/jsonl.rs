//! What the JSON-lines parsers share: rejoining lines the runner cut into pieces (up to a
//! cap, so memory stays bounded), keeping what cannot be parsed as raw entries, and folding
//! long text into a preview that a log view can expand.

use serde_json::{Value, json};

use super::Parsed;
use crate::model::LogKind;

/// The longest output line a JSON parser reassembles and parses; longer lines are kept as
/// raw pieces. Far above any event an agent CLI prints in practice (tool output is cut by
/// the CLIs themselves), far below what would strain memory.
pub const MAX_JSON_LINE: usize = 8 * 1024 * 1024;

/// How many stderr lines explain a failure without a final event.
const RECENT_STDERR: usize = 3;

/// The most text a tool result or tool input keeps in an entry's `data`.
pub const MAX_DATA_TEXT: usize = 64 * 1024;

/// Lines of a folded preview.
pub const FOLD_LINES: usize = 20;

/// Characters of a folded preview.
pub const FOLD_CHARS: usize = 2_000;

/// Rejoins the pieces of a cut line, up to a cap.
#[derive(Debug)]
pub struct LineJoiner {
    cap: usize,
    pieces: Vec<String>,
    bytes: usize,
    /// The current line went over the cap; its remaining pieces pass through.
    overflowing: bool,
}

/// What [`LineJoiner::push`] makes of a piece.
#[derive(Debug, PartialEq, Eq)]
pub enum Joined {
    /// More pieces of the line are needed.
    Pending,
    /// A whole line, ready to parse.
    Whole(String),
    /// The line is longer than the cap: its pieces so far, to keep as they are. `first` is
    /// set on the first batch of an overlong line; `ends` when these pieces end it.
    TooLong {
        /// The pieces, in order.
        pieces: Vec<String>,
        /// This is the first batch of this line.
        first: bool,
        /// The line ends with the last piece.
        ends: bool,
    },
}

impl Default for LineJoiner {
    fn default() -> Self {
        Self::new(MAX_JSON_LINE)
    }
}

impl LineJoiner {
    /// A joiner that parses lines of at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self { cap, pieces: Vec::new(), bytes: 0, overflowing: false }
    }

    /// Takes the next piece; `continues` says the line goes on in the next piece.
    pub fn push(&mut self, piece: &str, continues: bool) -> Joined {
        if self.overflowing {
            if !continues {
                self.overflowing = false;
            }
            return Joined::TooLong { pieces: vec![piece.to_owned()], first: false, ends: !continues };
        }
        if self.pieces.is_empty() && !continues && piece.len() <= self.cap {
            return Joined::Whole(piece.to_owned());
        }
        self.bytes += piece.len();
        self.pieces.push(piece.to_owned());
        if self.bytes > self.cap {
            self.bytes = 0;
            self.overflowing = continues;
            return Joined::TooLong {
                pieces: std::mem::take(&mut self.pieces),
                first: true,
                ends: !continues,
            };
        }
        if !continues {
            self.bytes = 0;
            return Joined::Whole(std::mem::take(&mut self.pieces).concat());
        }
        Joined::Pending
    }

    /// Pieces of a line whose end never came (the output stopped mid-line).
    pub fn finish(&mut self) -> Option<Vec<String>> {
        self.bytes = 0;
        self.overflowing = false;
        (!self.pieces.is_empty()).then(|| std::mem::take(&mut self.pieces))
    }
}

/// The reading side every JSON-lines parser shares: rejoins cut lines, parses objects,
/// keeps everything else as raw entries, and remembers what explains an exit without a
/// final event (the last stderr line, the last non-JSON line, how many lines were odd).
#[derive(Debug, Default)]
pub struct JsonLines {
    joiner: LineJoiner,
    /// The last few meaningful stderr lines (stack frames left out), oldest first.
    pub recent_stderr: std::collections::VecDeque<String>,
    /// The last non-empty stdout line that was not a JSON object.
    pub last_other: Option<String>,
    /// How many stdout lines were not JSON objects.
    pub non_json_lines: usize,
    /// How many lines were longer than [`MAX_JSON_LINE`].
    pub too_long_lines: usize,
}

/// What [`JsonLines::read`] makes of a piece of output.
#[derive(Debug)]
pub enum Read {
    /// A JSON object, with the line it came from.
    Event(Value, String),
    /// Entries that are ready (stderr, raw text, pieces of an overlong line).
    Entries(Vec<Parsed>),
}

impl JsonLines {
    /// Reads one piece of output of the CLI called `agent`.
    pub fn read(&mut self, agent: &str, stream: super::Stream, line: &str, truncated: bool) -> Read {
        if stream == super::Stream::Stderr {
            let trimmed = line.trim();
            if !trimmed.is_empty() && !trimmed.starts_with("at ") {
                if self.recent_stderr.len() == RECENT_STDERR {
                    self.recent_stderr.pop_front();
                }
                self.recent_stderr.push_back(one_line(line, 300));
            }
            return Read::Entries(vec![stderr(line, truncated)]);
        }
        match self.joiner.push(line, truncated) {
            Joined::Pending => Read::Entries(Vec::new()),
            Joined::TooLong { pieces, first, ends } => {
                if first {
                    self.too_long_lines += 1;
                }
                Read::Entries(too_long_entries(agent, pieces, first, ends))
            }
            Joined::Whole(line) => match serde_json::from_str::<Value>(&line) {
                Ok(v @ Value::Object(_)) => Read::Event(v, line),
                _ => {
                    self.non_json_lines += 1;
                    if !line.trim().is_empty() {
                        self.last_other = Some(one_line(&line, 300));
                    }
                    Read::Entries(vec![raw(line, None, false)])
                }
            },
        }
    }

    /// The recent stderr lines as one line, if there were any.
    pub fn stderr_text(&self) -> Option<String> {
        (!self.recent_stderr.is_empty())
            .then(|| self.recent_stderr.iter().cloned().collect::<Vec<_>>().join(" "))
    }

    /// Pieces of a line whose end never came, as raw entries.
    pub fn finish(&mut self) -> Vec<Parsed> {
        let pieces = self.joiner.finish().unwrap_or_default();
        let last = pieces.len().saturating_sub(1);
        pieces.into_iter().enumerate().map(|(i, p)| raw(p, None, i != last)).collect()
    }

    /// Why a run of `agent` failed when it ended without its final event: how it ended, the
    /// last thing it said, and how much of its output was not what it should have been.
    pub fn no_result(&self, agent: &str, what: &str, exit: super::ExitInfo) -> String {
        let how = match (exit.code, exit.signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(sig)) => format!("was killed by signal {}", super::signal_name(sig)),
            (None, None) => "ended".to_owned(),
        };
        let mut reason = format!("{agent} {how} without reporting {what}");
        let said = match self.stderr_text() {
            Some(text) => Some(text),
            None => self.last_other.clone(),
        };
        if let Some(said) = said {
            reason.push_str(&format!(": {said}"));
        }
        let mut notes = Vec::new();
        if self.non_json_lines > 0 {
            notes.push(format!("{} output line(s) were not JSON", self.non_json_lines));
        }
        if self.too_long_lines > 0 {
            notes.push(format!(
                "{} line(s) longer than {} MiB were kept unparsed",
                self.too_long_lines,
                MAX_JSON_LINE / (1024 * 1024)
            ));
        }
        if !notes.is_empty() {
            reason.push_str(&format!(" ({})", notes.join("; ")));
        }
        reason
    }
}

/// Entries for the pieces of a line too long to parse: a note saying so (on the first
/// batch), then every piece verbatim, all but the line's last piece marked truncated.
pub fn too_long_entries(agent: &str, pieces: Vec<String>, first: bool, ends: bool) -> Vec<Parsed> {
    let mut out = Vec::with_capacity(pieces.len() + 1);
    if first {
        out.push(Parsed::new(
            LogKind::Error,
            format!(
                "{agent} printed a line longer than {} MiB: kept as raw text, not parsed",
                MAX_JSON_LINE / (1024 * 1024)
            ),
            json!({ "event": "line_too_long" }),
        ));
    }
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.into_iter().enumerate() {
        let truncated = !(ends && i == last);
        out.push(raw(piece, None, truncated));
    }
    out
}

/// A `tool_use` entry: `summary` for people, the input kept in `data` while it is at most
/// [`MAX_DATA_TEXT`] of JSON (then its start, as text, with `input_truncated`).
pub fn tool_use(id: &str, name: &str, summary: String, input: &Value) -> Parsed {
    let (input, truncated) = bounded(input);
    let mut data = json!({ "event": "tool_use", "id": id, "name": name, "input": input });
    if truncated {
        data["input_truncated"] = json!(true);
    }
    Parsed { kind: LogKind::ToolUse, text: summary, data: Some(data) }
}

/// A `tool_result` entry: a folded preview of `output` as its text, the output itself (at
/// most [`MAX_DATA_TEXT`], `content_truncated` beyond) and its size in `data`.
pub fn tool_result(id: &str, tool: Option<&str>, output: &str, is_error: bool) -> Parsed {
    let (preview, folded) = fold(output);
    let (kept, clipped) = clip(output, MAX_DATA_TEXT);
    let mut data = json!({
        "event": "tool_result", "tool_use_id": id, "tool_name": tool, "is_error": is_error,
        "content": kept, "bytes": output.len(), "lines": output.lines().count(), "folded": folded,
    });
    if clipped {
        data["content_truncated"] = json!(true);
    }
    Parsed { kind: LogKind::ToolResult, text: preview, data: Some(data) }
}

/// A raw entry: output kept verbatim. `kind` is the line's `type`, when it had one.
pub fn raw(text: String, kind: Option<&str>, truncated: bool) -> Parsed {
    let mut data = json!({ "event": "raw" });
    if let Some(kind) = kind {
        data["type"] = json!(kind);
    }
    if truncated {
        data["truncated"] = json!(true);
    }
    Parsed { kind: LogKind::Raw, text, data: Some(data) }
}

/// A stderr entry (stderr lines are never parsed).
pub fn stderr(line: &str, truncated: bool) -> Parsed {
    Parsed {
        kind: LogKind::Stderr,
        text: line.to_owned(),
        data: truncated.then(|| json!({ "truncated": true })),
    }
}

/// A preview of `text` of at most [`FOLD_LINES`] lines and [`FOLD_CHARS`] characters, and
/// whether anything was left out (the preview then ends with a note of how much).
pub fn fold(text: &str) -> (String, bool) {
    let body = text.trim_end_matches(['\n', '\r']);
    let total = body.lines().count();
    let mut preview = String::new();
    let (mut shown, mut chars) = (0, 0);
    for line in body.lines() {
        let n = line.chars().count();
        if shown == FOLD_LINES || chars + n > FOLD_CHARS {
            break;
        }
        if shown > 0 {
            preview.push('\n');
        }
        preview.push_str(line);
        shown += 1;
        chars += n + 1;
    }
    if shown == total {
        return (body.to_owned(), false);
    }
    if shown == 0 {
        // One enormous first line: cut inside it.
        preview = body.lines().next().unwrap_or_default().chars().take(FOLD_CHARS).collect();
        preview.push('…');
        shown = 1;
    }
    let more = total - shown;
    if more > 0 {
        preview.push_str(&format!("\n… {more} more line{}", if more == 1 { "" } else { "s" }));
    }
    (preview, true)
}

/// At most `max` bytes of `text`, cut on a character boundary, and whether it was cut.
pub fn clip(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    (&text[..cut], true)
}

/// The first line of `text`, at most `max` characters, with `…` when anything was left out.
pub fn one_line(text: &str, max: usize) -> String {
    let trimmed = text.trim();
    let first = trimmed.lines().next().unwrap_or("");
    let mut out: String = first.chars().take(max).collect();
    if out.len() < trimmed.len() {
        out.push('…');
    }
    out
}

/// `value` as it is when its JSON is at most [`MAX_DATA_TEXT`] bytes, else the start of its
/// JSON text as a string, so an entry's data stays bounded.
pub fn bounded(value: &Value) -> (Value, bool) {
    let text = value.to_string();
    if text.len() <= MAX_DATA_TEXT {
        return (value.clone(), false);
    }
    (Value::String(clip(&text, MAX_DATA_TEXT).0.to_owned()), true)
}

/// The text of a message content value: a string, or the text blocks of an array (other
/// blocks shown as `[type]`).
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match (b.get("type").and_then(Value::as_str), b.get("text").and_then(Value::as_str)) {
                (_, Some(text)) => text.to_owned(),
                (Some(kind), None) => format!("[{kind}]"),
                (None, None) => b.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lines_pass_and_cut_lines_are_rejoined() {
        let mut j = LineJoiner::new(10);
        assert_eq!(j.push("{\"a\":1}", false), Joined::Whole("{\"a\":1}".into()));
        assert_eq!(j.push("{\"a\":", true), Joined::Pending);
        assert_eq!(j.push("2}", false), Joined::Whole("{\"a\":2}".into()));
        assert_eq!(j.finish(), None);
    }

    #[test]
    fn lines_over_the_cap_come_back_as_pieces_and_nothing_is_lost() {
        let mut j = LineJoiner::new(10);
        assert_eq!(j.push("aaaaaa", true), Joined::Pending);
        assert_eq!(
            j.push("bbbbbb", true),
            Joined::TooLong { pieces: vec!["aaaaaa".into(), "bbbbbb".into()], first: true, ends: false }
        );
        assert_eq!(
            j.push("cc", true),
            Joined::TooLong { pieces: vec!["cc".into()], first: false, ends: false }
        );
        assert_eq!(
            j.push("d", false),
            Joined::TooLong { pieces: vec!["d".into()], first: false, ends: true }
        );
        // The next line is parsed normally again.
        assert_eq!(j.push("{}", false), Joined::Whole("{}".into()));
        // The limit counts the line's last piece too.
        assert_eq!(j.push("aaaaaa", true), Joined::Pending);
        assert_eq!(
            j.push("bbbbbb", false),
            Joined::TooLong { pieces: vec!["aaaaaa".into(), "bbbbbb".into()], first: true, ends: true }
        );
        assert_eq!(
            j.push("0123456789a", false),
            Joined::TooLong { pieces: vec!["0123456789a".into()], first: true, ends: true }
        );
        assert_eq!(j.push("half", true), Joined::Pending);
        assert_eq!(j.finish(), Some(vec!["half".to_string()]));

        let entries = too_long_entries("X", vec!["aa".into(), "bb".into()], true, true);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].kind, LogKind::Error);
        assert_eq!(entries[1].data, Some(json!({"event": "raw", "truncated": true})));
        assert_eq!(entries[2].data, Some(json!({"event": "raw"})));
    }

    #[test]
    fn folding_keeps_short_text_and_previews_long_text() {
        assert_eq!(fold("one\ntwo\n"), ("one\ntwo".to_string(), false));
        let long: String = (1..=50).map(|i| format!("line {i}\n")).collect();
        let (preview, folded) = fold(&long);
        assert!(folded);
        assert!(preview.starts_with("line 1\nline 2\n"));
        assert!(preview.ends_with("line 20\n… 30 more lines"), "{preview}");
        let wide = "x".repeat(10_000);
        let (preview, folded) = fold(&wide);
        assert!(folded);
        assert_eq!(preview.chars().count(), FOLD_CHARS + 1);
    }

    #[test]
    fn clipping_respects_characters() {
        assert_eq!(clip("héllo", 2), ("h", true));
        assert_eq!(clip("héllo", 3), ("hé", true));
        assert_eq!(clip("hi", 5), ("hi", false));
        assert_eq!(one_line("  cargo test\n--release ", 100), "cargo test…");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("abc", 3), "abc");
    }

    #[test]
    fn content_text_reads_strings_and_blocks() {
        assert_eq!(content_text(&json!("plain")), "plain");
        assert_eq!(
            content_text(&json!([{"type": "text", "text": "a"}, {"type": "image", "source": {}}])),
            "a\n[image]"
        );
    }
}
