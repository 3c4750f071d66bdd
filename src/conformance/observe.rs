//! Observations and their normalisation: what a case saw, written so that the same
//! behaviour reads the same on both backends.
//!
//! - zxids become `z1, z2, …` in their order of first appearance within the case;
//! - session ids become `s1, s2, …` the same way (also in `ephemeralOwner`);
//! - ctime and mtime are dropped (wall clocks differ);
//! - children lists are sorted (the server returns them in hash order);
//! - timings are recorded as the bounded class the case states, never as raw durations.

use crate::zk::types::{Acl, ErrorCode, OpResult, SessionState, Stat, WatchedEvent, Zxid};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Renames zxids and session ids to their order of first appearance.
#[derive(Debug, Default)]
pub struct Normaliser {
    zxids: BTreeMap<Zxid, usize>,
    sessions: BTreeMap<i64, usize>,
}

impl Normaliser {
    pub fn zxid(&mut self, zxid: Zxid) -> String {
        let next = self.zxids.len() + 1;
        format!("z{}", self.zxids.entry(zxid).or_insert(next))
    }

    pub fn session(&mut self, id: i64) -> String {
        if id == 0 {
            return "0".into();
        }
        let next = self.sessions.len() + 1;
        format!("s{}", self.sessions.entry(id).or_insert(next))
    }
}

/// Something a case can record.
pub trait Observe {
    fn describe(&self, n: &mut Normaliser) -> String;
}

impl Observe for Stat {
    fn describe(&self, n: &mut Normaliser) -> String {
        format!(
            "czxid={} mzxid={} pzxid={} version={} cversion={} aversion={} owner={} len={} children={}",
            n.zxid(self.czxid),
            n.zxid(self.mzxid),
            n.zxid(self.pzxid),
            self.version,
            self.cversion,
            self.aversion,
            n.session(self.ephemeral_owner),
            self.data_length,
            self.num_children
        )
    }
}

impl Observe for ErrorCode {
    fn describe(&self, _: &mut Normaliser) -> String {
        format!("{self:?}")
    }
}

impl<T: Observe> Observe for Result<T, ErrorCode> {
    fn describe(&self, n: &mut Normaliser) -> String {
        match self {
            Ok(value) => format!("Ok({})", value.describe(n)),
            Err(err) => format!("Err({err:?})"),
        }
    }
}

impl<T: Observe> Observe for Option<T> {
    fn describe(&self, n: &mut Normaliser) -> String {
        match self {
            Some(value) => format!("Some({})", value.describe(n)),
            None => "None".into(),
        }
    }
}

impl Observe for () {
    fn describe(&self, _: &mut Normaliser) -> String {
        "()".into()
    }
}

impl Observe for bool {
    fn describe(&self, _: &mut Normaliser) -> String {
        self.to_string()
    }
}

impl Observe for i32 {
    fn describe(&self, _: &mut Normaliser) -> String {
        self.to_string()
    }
}

impl Observe for usize {
    fn describe(&self, _: &mut Normaliser) -> String {
        self.to_string()
    }
}

impl Observe for str {
    fn describe(&self, _: &mut Normaliser) -> String {
        self.to_string()
    }
}

impl Observe for String {
    fn describe(&self, _: &mut Normaliser) -> String {
        self.clone()
    }
}

impl<T: Observe + ?Sized> Observe for &T {
    fn describe(&self, n: &mut Normaliser) -> String {
        (**self).describe(n)
    }
}

/// Node data, shown as text when it is UTF-8.
pub struct Data<'a>(pub &'a [u8]);

impl Observe for Data<'_> {
    fn describe(&self, _: &mut Normaliser) -> String {
        match std::str::from_utf8(self.0) {
            Ok(text) => format!("{text:?}"),
            Err(_) => format!("{:?}", self.0),
        }
    }
}

impl Observe for Vec<u8> {
    fn describe(&self, n: &mut Normaliser) -> String {
        Data(self).describe(n)
    }
}

/// Children names, sorted (ZooKeeper returns them unordered).
impl Observe for Vec<String> {
    fn describe(&self, _: &mut Normaliser) -> String {
        let mut sorted = self.clone();
        sorted.sort();
        format!("[{}]", sorted.join(","))
    }
}

impl<A: Observe, B: Observe> Observe for (A, B) {
    fn describe(&self, n: &mut Normaliser) -> String {
        let a = self.0.describe(n);
        let b = self.1.describe(n);
        format!("{a}; {b}")
    }
}

impl<A: Observe, B: Observe, C: Observe> Observe for (A, B, C) {
    fn describe(&self, n: &mut Normaliser) -> String {
        let a = self.0.describe(n);
        let b = self.1.describe(n);
        let c = self.2.describe(n);
        format!("{a}; {b}; {c}")
    }
}

impl Observe for SessionState {
    fn describe(&self, _: &mut Normaliser) -> String {
        format!("{self:?}")
    }
}

impl Observe for WatchedEvent {
    fn describe(&self, _: &mut Normaliser) -> String {
        format!(
            "{:?}/{:?} {:?}",
            self.event_type, self.session_state, self.path
        )
    }
}

impl Observe for OpResult {
    fn describe(&self, n: &mut Normaliser) -> String {
        match self {
            OpResult::Create { path, stat } => format!("Create({path}; {})", stat.describe(n)),
            OpResult::Delete => "Delete".into(),
            OpResult::SetData { stat } => format!("SetData({})", stat.describe(n)),
            OpResult::Check => "Check".into(),
            OpResult::Error(err) => format!("Error({err:?})"),
        }
    }
}

impl Observe for Vec<OpResult> {
    fn describe(&self, n: &mut Normaliser) -> String {
        let parts: Vec<String> = self.iter().map(|r| r.describe(n)).collect();
        format!("[{}]", parts.join(", "))
    }
}

impl Observe for Vec<Acl> {
    fn describe(&self, _: &mut Normaliser) -> String {
        let mut parts: Vec<String> = self
            .iter()
            .map(|a| format!("{}:{}:{}", a.scheme, a.id, a.perms))
            .collect();
        parts.sort();
        format!("[{}]", parts.join(","))
    }
}

impl Observe for Vec<SessionState> {
    fn describe(&self, _: &mut Normaliser) -> String {
        let parts: Vec<String> = self.iter().map(|s| format!("{s:?}")).collect();
        format!("[{}]", parts.join(" -> "))
    }
}

/// The ordered observations of one case on one backend.
#[derive(Debug, Default)]
pub struct Recorder {
    normaliser: Normaliser,
    lines: Vec<String>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder::default()
    }

    /// Records `value` under `label` (labels say what was done: "create /a again").
    pub fn see(&mut self, label: &str, value: impl Observe) {
        let text = value.describe(&mut self.normaliser);
        self.lines.push(format!("{label}: {text}"));
    }

    /// Names a session (s1, s2, … in order of first appearance) so its id reads the same on
    /// both backends.
    pub fn session(&mut self, id: i64) -> String {
        self.normaliser.session(id)
    }

    /// Names a zxid by order of appearance.
    pub fn zxid(&mut self, zxid: Zxid) -> String {
        self.normaliser.zxid(zxid)
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    pub fn into_lines(self) -> Vec<String> {
        self.lines
    }
}

/// A line-by-line comparison of two observation lists; `None` when identical.
pub fn diff(model: &[String], real: &[String]) -> Option<String> {
    if model == real {
        return None;
    }
    let mut out = String::new();
    let longest = model.len().max(real.len());
    for i in 0..longest {
        let m = model.get(i).map(String::as_str).unwrap_or("(nothing)");
        let r = real.get(i).map(String::as_str).unwrap_or("(nothing)");
        if m == r {
            let _ = writeln!(out, "    = {m}");
        } else {
            let _ = writeln!(out, "    model: {m}");
            let _ = writeln!(out, "    real:  {r}");
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zxids_and_sessions_are_named_by_first_appearance() {
        let mut r = Recorder::new();
        let stat = Stat {
            czxid: 0x500000007,
            mzxid: 0x500000009,
            pzxid: 0x500000007,
            ephemeral_owner: 0x77,
            ..Stat::default()
        };
        r.see("a", Ok::<_, ErrorCode>(stat));
        r.see("b", Err::<Stat, _>(ErrorCode::NoNode));
        assert_eq!(
            r.lines(),
            [
                "a: Ok(czxid=z1 mzxid=z2 pzxid=z1 version=0 cversion=0 aversion=0 owner=s1 len=0 children=0)",
                "b: Err(NoNode)"
            ]
        );
        assert_eq!(r.session(0x77), "s1");
        assert_eq!(r.session(0x78), "s2");
    }

    #[test]
    fn children_are_sorted_and_diffs_name_the_differing_lines() {
        let mut r = Recorder::new();
        r.see("kids", vec!["b".to_string(), "a".to_string()]);
        assert_eq!(r.lines(), ["kids: [a,b]"]);
        let model = vec!["x: 1".to_string(), "y: 2".to_string()];
        let real = vec!["x: 1".to_string(), "y: 3".to_string()];
        assert!(diff(&model, &model).is_none());
        let text = diff(&model, &real).expect("differs");
        assert!(text.contains("model: y: 2") && text.contains("real:  y: 3"));
    }
}
