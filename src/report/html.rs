//! The human page of a report: one self-contained HTML file (inline style, inline SVG, no
//! scripts, no fonts or CDNs), readable offline.

use super::escape;
use std::fmt::Write as _;

/// One failure's section.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureSection {
    pub seed: u64,
    pub invariant: String,
    pub detail: String,
    /// Path of the shrunk scenario file, relative to the report (none if there is none).
    pub scenario: Option<String>,
    /// The scenario file's text.
    pub scenario_text: String,
    /// The command that replays the failure.
    pub replay: String,
    /// How far it was shrunk, in words.
    pub shrinking: String,
    /// The timeline picture (`svg::timeline_svg`).
    pub svg: String,
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}section{margin-top:2em}\
.fail{color:#b2182b}.pass{color:#1b7837}code{background:#f4f4f4;padding:1px 4px}\
.legend span{display:inline-block;padding:2px 6px;margin-right:4px;font-size:12px}\
pre{background:#f4f4f4;padding:8px;overflow-x:auto;max-height:30em}svg{max-width:100%;height:auto}";

const LEGEND: &str = "<p class=\"legend\"><span style=\"background:#1b7837;color:#fff\">leading</span>\
<span style=\"background:#a6dba0\">following</span><span style=\"background:#fdb863\">looking</span>\
<span style=\"background:#d6604d;color:#fff\">master</span><span style=\"background:#f4a582\">slave</span>\
<span style=\"background:#fee090\">withdrawn</span><span style=\"background:#bdbdbd\">down</span>\
<span style=\"background:#ddd\">paused (hatched)</span><span style=\"background:rgba(117,112,179,.3)\">network fault</span>\
<span style=\"color:#d7191c\">| violation</span></p>";

/// Renders the page. `summary` rows are shown as a two-column table, in order.
pub fn index_html(
    title: &str,
    summary: &[(String, String)],
    failures: &[FailureSection],
) -> String {
    index_html_with(title, summary, "", failures)
}

/// [`index_html`] with `before` (HTML) between the summary table and the failures: the chaos
/// page's coverage section.
pub fn index_html_with(
    title: &str,
    summary: &[(String, String)],
    before: &str,
    failures: &[FailureSection],
) -> String {
    let heading = (!failures.is_empty()).then(|| format!("{} failure(s)", failures.len()));
    page(title, summary, before, heading.as_deref(), failures)
}

/// The page of several live runs: one section per run, passed or not, each with its timeline
/// picture (a failed run's section says why in its detail).
pub fn runs_html(title: &str, summary: &[(String, String)], runs: &[FailureSection]) -> String {
    let failed = runs
        .iter()
        .filter(|r| r.invariant.ends_with("FAIL"))
        .count();
    let heading = format!("{} run(s), {failed} failed", runs.len());
    page(title, summary, "", Some(&heading), runs)
}

/// The page of `splitbrain compare`: the comparison (`compare::compare_section`, already
/// HTML) after the summary, then one section per run shown, as [`runs_html`] has them.
pub fn compare_html(
    title: &str,
    summary: &[(String, String)],
    comparison: &str,
    runs: &[FailureSection],
) -> String {
    let failed = runs
        .iter()
        .filter(|r| r.invariant.ends_with("FAIL"))
        .count();
    let heading = format!("{} run(s), {failed} failed", runs.len());
    page(title, summary, comparison, Some(&heading), runs)
}

/// `before` is HTML placed between the summary table and the sections.
fn page(
    title: &str,
    summary: &[(String, String)],
    before: &str,
    heading: Option<&str>,
    failures: &[FailureSection],
) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t}</h1>",
        t = escape(title)
    );
    page.push_str("<table>");
    for (key, value) in summary {
        let _ = write!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    page.push_str("</table>");
    page.push_str(before);
    match heading {
        None => page.push_str("<p class=\"pass\">No violations.</p>"),
        Some(heading) => {
            let _ = write!(page, "<h2 class=\"fail\">{}</h2>{LEGEND}", escape(heading));
        }
    }
    for f in failures {
        let _ = write!(
            page,
            "<section class=\"failure\" id=\"seed-{seed}\"><h3 class=\"fail\">seed {seed} — {}</h3><p class=\"detail\">{}</p><p>Replay: <code class=\"replay\">{}</code></p>",
            escape(&f.invariant),
            escape(&f.detail),
            escape(&f.replay),
            seed = f.seed,
        );
        page.push_str(&f.svg);
        if let Some(file) = &f.scenario {
            let _ = write!(
                page,
                "<p>Shrunk scenario <a href=\"{0}\">{0}</a> ({1}):</p><pre class=\"scenario\">{2}</pre>",
                escape(file),
                escape(&f.shrinking),
                escape(&f.scenario_text)
            );
        }
        page.push_str("</section>");
    }
    page.push_str("</body></html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained() {
        let page = index_html(
            "chaos <nightly>",
            &[("seeds run".into(), "2000".into())],
            &[FailureSection {
                seed: 7,
                invariant: "2M".into(),
                detail: "n1 & n2 overlap".into(),
                scenario: Some("seed-7-2M.toml".into()),
                scenario_text: "[run]\nseed = 7 # <x>\n".into(),
                replay: "splitbrain run reports/x/seed-7-2M.toml".into(),
                shrinking: "shrunk from 9 to 2 steps in 31 runs".into(),
                svg: "<svg></svg>".into(),
            }],
        );
        assert!(page.contains("<title>chaos &lt;nightly&gt;</title>"));
        assert!(page.contains("n1 &amp; n2 overlap"));
        assert!(page.contains("splitbrain run reports/x/seed-7-2M.toml"));
        assert!(
            page.contains("seed = 7 # &lt;x&gt;"),
            "the scenario text, escaped"
        );
        assert!(page.contains("href=\"seed-7-2M.toml\""));
        assert!(page.contains("<svg></svg>"), "pictures are inlined");
        for external in ["<script", "http://", "https://", "<link"] {
            assert!(!page.contains(external), "no {external}");
        }
    }
}
