//! JUnit XML, the format CI dashboards read: one test case per seed.

use super::escape;
use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub struct JunitCase {
    pub name: String,
    pub seconds: f64,
    /// `(message, body)` when the case failed.
    pub failure: Option<(String, String)>,
}

pub fn junit_xml(suite: &str, cases: &[JunitCase]) -> String {
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let total: f64 = cases.iter().map(|c| c.seconds).sum();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        r#"<testsuites><testsuite name="{}" tests="{}" failures="{failures}" errors="0" time="{total:.3}">"#,
        escape(suite),
        cases.len()
    );
    for c in cases {
        let _ = write!(
            xml,
            r#"  <testcase classname="{}" name="{}" time="{:.3}""#,
            escape(suite),
            escape(&c.name),
            c.seconds
        );
        match &c.failure {
            None => xml.push_str("/>\n"),
            Some((message, body)) => {
                let _ = writeln!(
                    xml,
                    r#"><failure message="{}">{}</failure></testcase>"#,
                    escape(message),
                    escape(body)
                );
            }
        }
    }
    xml.push_str("</testsuite></testsuites>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_escapes() {
        let xml = junit_xml(
            "chaos",
            &[
                JunitCase {
                    name: "seed 1".into(),
                    seconds: 0.5,
                    failure: None,
                },
                JunitCase {
                    name: "seed 2".into(),
                    seconds: 0.25,
                    failure: Some(("2M at 1s".into(), "a<b & c".into())),
                },
            ],
        );
        assert!(xml.contains(r#"tests="2" failures="1""#));
        assert!(xml.contains(r#"<testcase classname="chaos" name="seed 1" time="0.500"/>"#));
        assert!(xml.contains("a&lt;b &amp; c"));
    }
}
