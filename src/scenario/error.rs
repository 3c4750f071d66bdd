//! Errors in a scenario file, rendered as `file:line:col: message` with the offending source
//! line and a caret under it, and a "did you mean" when a near valid word exists.

use std::fmt;
use std::ops::Range;

/// One problem in a scenario file, located by byte span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Range<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Self {
        Diagnostic {
            span,
            message: message.into(),
        }
    }
}

/// A problem with its position resolved against the file's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
    source_line: String,
    caret_width: usize,
}

impl ScenarioError {
    pub fn locate(file: &str, text: &str, diagnostic: &Diagnostic) -> Self {
        let start = diagnostic.span.start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let column = text[line_start..start].chars().count() + 1;
        let end = diagnostic.span.end.clamp(start, line_end);
        ScenarioError {
            file: file.to_string(),
            line,
            column,
            message: diagnostic.message.clone(),
            source_line: text[line_start..line_end]
                .trim_end_matches('\r')
                .to_string(),
            caret_width: text[start..end].chars().count().max(1),
        }
    }

    /// An error about the file as a whole (it cannot be read).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        ScenarioError {
            file: file.to_string(),
            line: 1,
            column: 1,
            message: message.into(),
            source_line: String::new(),
            caret_width: 0,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if self.caret_width > 0 {
            let gutter = self.line.to_string().len();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
                "",
                self.line,
                self.source_line,
                "",
                " ".repeat(self.column - 1),
                "^".repeat(self.caret_width),
            )?;
        }
        Ok(())
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Short names (a1, zk3) tolerate one typo; longer words one per three letters.
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (levenshtein(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// "; did you mean 'x'?" or, with no near word, the list of valid ones (when short).
pub fn suggestion(word: &str, candidates: &[&str]) -> String {
    match nearest(word, candidates.iter().copied()) {
        Some(best) => format!("; did you mean '{best}'?"),
        None if !candidates.is_empty() && candidates.len() <= 12 => {
            format!(" (expected one of: {})", candidates.join(", "))
        }
        None => String::new(),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_finds_typos_and_ignores_strangers() {
        let words = ["crash", "restart", "relinquish", "rejoin"];
        assert_eq!(nearest("crsh", words), Some("crash"));
        assert_eq!(nearest("relinqish", words), Some("relinquish"));
        assert_eq!(nearest("explode", words), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn renders_position_line_and_caret() {
        let text = "[run]\nduration = \"1x\"\n";
        let start = text.find("\"1x\"").unwrap();
        let error = ScenarioError::locate(
            "s.toml",
            text,
            &Diagnostic::new(start..start + 4, "bad duration"),
        );
        assert_eq!((error.line, error.column), (2, 12));
        assert_eq!(
            error.to_string(),
            "s.toml:2:12: bad duration\n  |\n2 | duration = \"1x\"\n  |            ^^^^"
        );
    }
}
