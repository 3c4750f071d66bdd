//! What the checkers derive from a history: mastership terms (who acted as master, with which
//! token, when) and, per node, whether it could be master (up, standing, healthy).

use crate::sim::history::{Entry, Name, Record};
use crate::sim::topology::PairSpec;
use std::collections::BTreeMap;
use std::time::Duration;

/// One grant of mastership as the node lived it: from its promotion to its demotion or crash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Term {
    pub pair: Name,
    pub node: Name,
    pub token: i64,
    pub from: Duration,
    /// `end` of the run if the term was still open.
    pub until: Duration,
    /// Spans of the term during which the node's host was paused (it executed nothing).
    pub paused: Vec<(Duration, Duration)>,
    /// When the node sent writes under this term's token (its master actions).
    pub writes: Vec<Duration>,
}

impl Term {
    /// The spans in which the node acted as master: from each master action (its promotion,
    /// each write) until its next one, its demotion or crash, or a pause of its host —
    /// whichever comes first. A paused process executes nothing, and after resuming the node
    /// acts again only from its next write: one that steps down before writing never acted on
    /// its stale belief.
    pub fn active_spans(&self) -> Vec<(Duration, Duration)> {
        let mut marks = vec![self.from];
        marks.extend(
            self.writes
                .iter()
                .copied()
                .filter(|w| *w > self.from && *w < self.until),
        );
        marks.push(self.until);
        marks
            .windows(2)
            .filter_map(|w| {
                let (from, next) = (w[0], w[1]);
                let paused_at = self
                    .paused
                    .iter()
                    .filter(|(p, r)| *p < next && *r > from)
                    .map(|(p, _)| *p)
                    .min();
                let until = paused_at.map_or(next, |p| p.max(from));
                (from < until).then_some((from, until))
            })
            .collect()
    }

    pub fn contains(&self, at: Duration) -> bool {
        self.from <= at && at < self.until
    }
}

/// The positions in `terms` of each pair's terms, in order: a checker compares a term with its
/// own pair's only (a world of 100 pairs has hundreds of terms).
pub fn terms_by_pair(terms: &[Term]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_pair: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, term) in terms.iter().enumerate() {
        by_pair.entry(&term.pair).or_default().push(i);
    }
    by_pair
}

/// Every term in the history, in promotion order. A promotion closes the node's open term
/// (if the demotion was never recorded); a crash of the node's host closes it too.
pub fn terms(history: &[Entry], end: Duration) -> Vec<Term> {
    let mut done = Vec::new();
    let mut open: BTreeMap<Name, Term> = BTreeMap::new();
    let mut paused_since: BTreeMap<Name, Duration> = BTreeMap::new();
    for entry in history {
        match &entry.record {
            Record::Promoted { pair, node, token } => {
                if let Some(mut term) = open.remove(node) {
                    term.until = entry.at;
                    done.push(term);
                }
                open.insert(
                    node.clone(),
                    Term {
                        pair: pair.clone(),
                        node: node.clone(),
                        token: *token,
                        from: entry.at,
                        until: end,
                        paused: vec![],
                        writes: vec![],
                    },
                );
            }
            Record::Demoted { node, .. } | Record::HostCrashed { host: node } => {
                if let Some(mut term) = open.remove(node) {
                    if let Some(since) = paused_since.remove(node) {
                        term.paused.push((since.max(term.from), entry.at));
                    }
                    term.until = entry.at;
                    done.push(term);
                }
                paused_since.remove(node);
            }
            Record::HostPaused { host } => {
                paused_since.insert(host.clone(), entry.at);
            }
            Record::WriteAttempt { node, token, .. } => {
                if let Some(term) = open.get_mut(node)
                    && term.token == *token
                {
                    term.writes.push(entry.at);
                }
            }
            Record::HostResumed { host } => {
                if let Some(since) = paused_since.remove(host)
                    && let Some(term) = open.get_mut(host)
                {
                    term.paused.push((since.max(term.from), entry.at));
                }
            }
            _ => {}
        }
    }
    for (node, mut term) in open {
        if let Some(since) = paused_since.get(&node) {
            term.paused.push(((*since).max(term.from), end));
        }
        done.push(term);
    }
    done.sort_by(|a, b| (a.from, &a.node).cmp(&(b.from, &b.node)));
    done
}

/// Whether a node could be master right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    pub up: bool,
    pub standing: bool,
    pub healthy: bool,
}

impl NodeState {
    pub fn eligible(&self) -> bool {
        self.up && self.standing && self.healthy
    }
}

impl Default for NodeState {
    /// Before its host starts, a node is down.
    fn default() -> Self {
        NodeState {
            up: false,
            standing: true,
            healthy: true,
        }
    }
}

/// Applies one record to the node state it concerns; returns whether it concerned a node.
pub fn apply(states: &mut BTreeMap<String, NodeState>, record: &Record) -> bool {
    let (node, update): (&Name, &dyn Fn(&mut NodeState)) = match record {
        // Candidacy survives a restart (a relinquish outlives the process); the node records
        // its candidacy again once it runs.
        Record::HostStarted { host } => (host, &|s| s.up = true),
        Record::HostResumed { host } => (host, &|s| s.up = true),
        Record::HostCrashed { host } | Record::HostPaused { host } => (host, &|s| s.up = false),
        Record::Candidacy { node, standing, .. } => (node, &|s| s.standing = *standing),
        Record::Health { node, healthy, .. } => (node, &|s| s.healthy = *healthy),
        _ => return false,
    };
    match states.get_mut(&**node) {
        Some(state) => {
            update(state);
            true
        }
        None => false,
    }
}

/// The host or node a record is about, for records that change a node's state or role.
fn subject(record: &Record) -> Option<&Name> {
    match record {
        Record::HostStarted { host }
        | Record::HostCrashed { host }
        | Record::HostPaused { host }
        | Record::HostResumed { host } => Some(host),
        Record::Promoted { node, .. }
        | Record::Demoted { node, .. }
        | Record::Candidacy { node, .. }
        | Record::Health { node, .. }
        | Record::PriorityChanged { node, .. } => Some(node),
        _ => None,
    }
}

/// A stretch of time in which nothing about a pair changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub from: Duration,
    pub until: Duration,
    /// The node in its term, if any (the latest promoted if several).
    pub master: Option<String>,
    /// Nodes that could be master, with their current priority, in topology order.
    pub eligible: Vec<(String, u32)>,
}

/// The pair's history cut into segments of unchanging state, covering `[0, end)`.
pub fn pair_segments(history: &[Entry], pair: &PairSpec, end: Duration) -> Vec<Segment> {
    let pair_terms: Vec<Term> = terms(history, end)
        .into_iter()
        .filter(|t| *t.pair == *pair.name)
        .collect();
    segments_of(history.iter(), &pair_terms, pair, end)
}

/// [`pair_segments`] of every pair, from one pass over the history (a world of many pairs
/// would otherwise rescan the whole history, and rederive every term, once per pair).
pub fn segments_by_pair(history: &[Entry], pairs: &[PairSpec], end: Duration) -> Vec<Vec<Segment>> {
    segments_by_pair_of_terms(history, pairs, end, &terms(history, end))
}

/// [`segments_by_pair`] with the history's terms derived already.
pub fn segments_by_pair_of_terms(
    history: &[Entry],
    pairs: &[PairSpec],
    end: Duration,
    terms: &[Term],
) -> Vec<Vec<Segment>> {
    let mut pairs_of_node: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, pair) in pairs.iter().enumerate() {
        for node in &pair.nodes {
            pairs_of_node
                .entry(node.name.as_str())
                .or_default()
                .push(index);
        }
    }
    let mut entries: Vec<Vec<&Entry>> = vec![Vec::new(); pairs.len()];
    for entry in history {
        if let Some(indices) = subject(&entry.record).and_then(|n| pairs_of_node.get(n.as_ref())) {
            for &index in indices {
                entries[index].push(entry);
            }
        }
    }
    let index_of_pair: BTreeMap<&str, usize> = pairs
        .iter()
        .enumerate()
        .map(|(index, pair)| (pair.name.as_str(), index))
        .collect();
    let mut pair_terms: Vec<Vec<Term>> = vec![Vec::new(); pairs.len()];
    for term in terms {
        if let Some(&index) = index_of_pair.get(term.pair.as_ref()) {
            pair_terms[index].push(term.clone());
        }
    }
    pairs
        .iter()
        .zip(entries)
        .zip(&pair_terms)
        .map(|((pair, entries), terms)| segments_of(entries.into_iter(), terms, pair, end))
        .collect()
}

/// Segments of `pair` from its terms and the history entries (a superset of those that
/// concern its nodes, in time order).
fn segments_of<'a>(
    history: impl Iterator<Item = &'a Entry>,
    pair_terms: &[Term],
    pair: &PairSpec,
    end: Duration,
) -> Vec<Segment> {
    let mut states: BTreeMap<String, NodeState> = pair
        .nodes
        .iter()
        .map(|n| (n.name.clone(), NodeState::default()))
        .collect();
    let mut priorities: BTreeMap<String, u32> = pair
        .nodes
        .iter()
        .map(|n| (n.name.clone(), n.priority))
        .collect();
    let snapshot = |from: Duration,
                    until: Duration,
                    states: &BTreeMap<String, NodeState>,
                    priorities: &BTreeMap<String, u32>| Segment {
        from,
        until,
        master: pair_terms
            .iter()
            .filter(|t| t.contains(from))
            .max_by_key(|t| t.from)
            .map(|t| t.node.to_string()),
        eligible: pair
            .nodes
            .iter()
            .filter(|n| states[&n.name].eligible())
            .map(|n| (n.name.clone(), priorities[&n.name]))
            .collect(),
    };
    let mut segments = Vec::new();
    let mut since = Duration::ZERO;
    for entry in history {
        let relevant = subject(&entry.record).is_some_and(|n| priorities.contains_key(&**n));
        if !relevant || entry.at > end {
            continue;
        }
        if entry.at > since {
            segments.push(snapshot(since, entry.at, &states, &priorities));
            since = entry.at;
        }
        if let Record::PriorityChanged { node, priority, .. } = &entry.record {
            priorities.insert(node.to_string(), *priority);
        }
        apply(&mut states, &entry.record);
    }
    if end > since {
        segments.push(snapshot(since, end, &states, &priorities));
    }
    segments
}

/// Runs of consecutive segments (clipped to `[from, end)`) for which `bad` holds; each run
/// comes with the segment in which it was last bad.
pub fn bad_runs(
    segments: &[Segment],
    from: Duration,
    bad: impl Fn(&Segment) -> bool,
) -> Vec<(Duration, Duration, &Segment)> {
    let mut runs: Vec<(Duration, Duration, &Segment)> = Vec::new();
    for segment in segments.iter().filter(|s| s.until > from) {
        if !bad(segment) {
            continue;
        }
        let start = segment.from.max(from);
        match runs.last_mut() {
            Some(run) if run.1 == start => {
                run.1 = segment.until;
                run.2 = segment;
            }
            _ => runs.push((start, segment.until, segment)),
        }
    }
    runs
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn at(ms: u64, record: Record) -> Entry {
        Entry {
            at: Duration::from_millis(ms),
            record,
        }
    }

    pub fn promoted(ms: u64, node: &str, token: i64) -> Entry {
        at(
            ms,
            Record::Promoted {
                pair: "p".into(),
                node: node.into(),
                token,
            },
        )
    }

    pub fn demoted(ms: u64, node: &str, token: i64) -> Entry {
        at(
            ms,
            Record::Demoted {
                pair: "p".into(),
                node: node.into(),
                token,
            },
        )
    }

    pub fn started(ms: u64, host: &str) -> Entry {
        at(ms, Record::HostStarted { host: host.into() })
    }

    #[test]
    fn terms_end_at_demotion_crash_or_the_end_and_exclude_pauses() {
        let history = vec![
            promoted(1_000, "a", 1),
            at(2_000, Record::HostPaused { host: "a".into() }),
            at(3_000, Record::HostResumed { host: "a".into() }),
            at(
                3_500,
                Record::WriteAttempt {
                    pair: "p".into(),
                    node: "a".into(),
                    token: 1,
                    write: 1,
                },
            ),
            demoted(4_000, "a", 1),
            promoted(5_000, "b", 2),
            at(6_000, Record::HostCrashed { host: "b".into() }),
            promoted(7_000, "a", 3),
        ];
        let terms = terms(&history, Duration::from_secs(10));
        let s = Duration::from_millis;
        assert_eq!(terms.len(), 3);
        assert_eq!(
            terms[0].active_spans(),
            vec![(s(1_000), s(2_000)), (s(3_500), s(4_000))],
            "acting resumes with the first write after the pause"
        );
        assert_eq!((terms[1].from, terms[1].until), (s(5_000), s(6_000)));
        assert_eq!((terms[2].until, terms[2].token), (s(10_000), 3));
    }
}
