//! What a chaos night explored: per coverage point ([`crate::coverage`]), how many seeds
//! reached it and the lowest seed that did. The points no seed reached are the night's blind
//! spots and come first, in `summary.json`, on the page and in the end-of-run line.

use crate::coverage::{Point, Reached};
use crate::report::escape;
use std::fmt::Write as _;

/// One point's tally over a campaign (an entry of `summary.json`'s `coverage`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PointCoverage {
    /// The point's name ([`Point::name`]).
    pub point: &'static str,
    /// Why it matters ([`Point::why`]).
    pub why: &'static str,
    /// Seeds whose generated run reached it.
    pub seeds: u64,
    /// The lowest seed that reached it (`None`: no seed did).
    pub first_seed: Option<u64>,
}

/// The tally of every point over `(seed, coverage)` pairs in any order: the points no seed
/// reached first (in [`Point::ALL`] order), then the rest from the rarest to the commonest.
pub fn tally(seeds: impl IntoIterator<Item = (u64, Reached)>) -> Vec<PointCoverage> {
    let mut counts = vec![(0u64, None::<u64>); Point::ALL.len()];
    for (seed, reached) in seeds {
        for point in reached.iter() {
            let (count, first) = &mut counts[point as usize];
            *count += 1;
            *first = Some(first.map_or(seed, |f: u64| f.min(seed)));
        }
    }
    let mut tally: Vec<PointCoverage> = Point::ALL
        .iter()
        .zip(counts)
        .map(|(point, (seeds, first_seed))| PointCoverage {
            point: point.name(),
            why: point.why(),
            seeds,
            first_seed,
        })
        .collect();
    // Stable: equal counts keep the points' own order.
    tally.sort_by_key(|p| (p.seeds > 0, p.seeds));
    tally
}

/// Points reached by at least one seed.
pub fn reached_count(tally: &[PointCoverage]) -> usize {
    tally.iter().filter(|p| p.seeds > 0).count()
}

/// The end-of-run line: `coverage: 34 of 41 points reached; never: a, b, c`.
pub fn summary_line(tally: &[PointCoverage]) -> String {
    let never: Vec<&str> = tally
        .iter()
        .filter(|p| p.seeds == 0)
        .map(|p| p.point)
        .collect();
    let mut line = format!(
        "coverage: {} of {} points reached",
        reached_count(tally),
        tally.len()
    );
    if !never.is_empty() {
        let _ = write!(line, "; never: {}", never.join(", "));
    }
    line
}

/// The page's coverage section: the never-reached points listed first, then a table of every
/// point with its seeds and first seed.
pub fn html_section(tally: &[PointCoverage], seeds_run: u64) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<section class=\"coverage\" id=\"coverage\"><h2>Coverage: {} of {} points reached over {seeds_run} seeds</h2>",
        reached_count(tally),
        tally.len()
    );
    let never: Vec<&PointCoverage> = tally.iter().filter(|p| p.seeds == 0).collect();
    if never.is_empty() {
        html.push_str("<p class=\"pass\">Every point was reached.</p>");
    } else {
        // Compact, so the failures below stay near the top: each point's reason on hover,
        // and in the table.
        let names: Vec<String> = never
            .iter()
            .map(|p| {
                format!(
                    "<code title=\"{}\">{}</code>",
                    escape(p.why),
                    escape(p.point)
                )
            })
            .collect();
        let _ = write!(
            html,
            "<p class=\"never\"><span class=\"fail\">Never reached ({}), the night's blind spots:</span> {}</p>",
            never.len(),
            names.join(", ")
        );
    }
    html.push_str(
        "<details><summary>Every point (rarest first)</summary><table><tr><th>point</th><th>seeds</th><th>first seed</th><th>why it matters</th></tr>",
    );
    for p in tally {
        let _ = write!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(p.point),
            p.seeds,
            p.first_seed.map_or("—".to_string(), |s| s.to_string()),
            escape(p.why)
        );
    }
    html.push_str("</table></details></section>");
    html
}

/// Every point as a Markdown table, in [`Point::ALL`] order: what `docs/coverage.md` lists
/// (a test keeps the two the same).
pub fn markdown_table() -> String {
    let mut text = String::from("| point | why it matters |\n|---|---|\n");
    for p in Point::ALL {
        let _ = writeln!(text, "| `{}` | {} |", p.name(), p.why());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blind_spots_first_then_rarest_with_the_lowest_seed() {
        let a: Reached = [Point::ClaimNoNode, Point::ReplicaPromoted]
            .into_iter()
            .collect();
        let b: Reached = [Point::ReplicaPromoted].into_iter().collect();
        let tally = tally([(9, a), (4, b), (7, b)]);
        assert_eq!(tally.len(), Point::ALL.len());
        let never = tally.len() - 2;
        assert!(tally[..never].iter().all(|p| p.seeds == 0));
        assert_eq!(tally[0].point, Point::ALL[0].name());
        assert_eq!(
            (
                tally[never].point,
                tally[never].seeds,
                tally[never].first_seed
            ),
            ("claim-no-node", 1, Some(9))
        );
        assert_eq!(
            (
                tally[never + 1].point,
                tally[never + 1].seeds,
                tally[never + 1].first_seed
            ),
            ("replica-promoted", 3, Some(4))
        );
        let line = summary_line(&tally);
        assert!(line.starts_with(&format!(
            "coverage: 2 of {} points reached; never: ",
            tally.len()
        )));
        assert!(line.contains("master-disconnected") && !line.contains("claim-no-node"));
        let html = html_section(&tally, 3);
        assert!(html.find("master-disconnected") < html.find("claim-no-node"));
    }

    /// `docs/coverage.md` lists every point between its markers, as [`markdown_table`] has them.
    #[test]
    fn the_document_lists_every_point() {
        let doc = include_str!("../../docs/coverage.md");
        let table = doc
            .split_once("<!-- points -->\n")
            .and_then(|(_, rest)| rest.split_once("<!-- /points -->"))
            .map(|(table, _)| table)
            .expect("docs/coverage.md has the <!-- points --> markers");
        assert_eq!(
            table,
            markdown_table(),
            "docs/coverage.md is out of date; its table should read:\n{}",
            markdown_table()
        );
    }
}
