//! Reports a chaos run leaves behind: `summary.json` for scripts, `junit.xml` for CI
//! dashboards, and `index.html` for people — the summary plus, per failure, a timeline picture.

pub mod compare;
pub mod html;
pub mod junit;
pub mod program_results;
pub mod svg;

/// Escapes text for XML and HTML (element content and attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
