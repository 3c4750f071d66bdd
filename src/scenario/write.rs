//! A [`Scenario`] written back as a scenario file, laid out as QA writes them by hand
//! (`scenarios/*.toml`): chaos findings become files that `splitbrain run` replays and people
//! read. Reading the text back ([`super::parse`]) gives an equal scenario: every duration is
//! written exactly ([`format_duration`]), floats in their shortest exact form.
//!
//! What the reader expands is written expanded: a stamped pair (`count`) as its copies, a
//! `pause … for` as a pause and a resume step, unless the resume sits where `for` would put it
//! back.

use super::programs::BUILT_IN;
use super::validate::{DEFAULT_NO_MASTER_BOUND, DEFAULT_WRONG_PRIORITY_BOUND};
use super::{Action, Expectation, Scenario, Step};
use crate::duration::format_duration;
use crate::election::{ElectionCode, Policy};
use crate::sim::fault::{Fault, Group, Target};
use crate::sim::topology::{
    DEFAULT_HEALTH_PERIOD, DEFAULT_WRITE_PERIOD, DatabaseMode, DatabaseSpec, NodeSpec, Replication,
    ZkServerSpec,
};
use crate::zk::client::ClientModel;
use std::fmt::Write;
use std::time::Duration;

/// TOML text of a scenario; `scenario::parse(name, file, &to_toml(s, comment))` gives back an
/// equal Scenario (for seeds up to `i64::MAX`, TOML's largest integer). `header_comment` opens
/// the file, each of its lines as a `#` comment (say what the scenario checks and why).
pub fn to_toml(scenario: &Scenario, header_comment: &str) -> String {
    let mut out = String::new();
    for line in header_comment.lines() {
        if line.trim().is_empty() {
            out.push_str("#\n");
        } else {
            let _ = writeln!(out, "# {line}");
        }
    }
    if !header_comment.trim().is_empty() {
        out.push('\n');
    }
    let topology = &scenario.topology;
    let _ = writeln!(out, "sites = {}\n", list(&topology.sites));

    out.push_str("[run]\n");
    let _ = writeln!(
        out,
        "duration = {}   # the fault phase",
        dur(scenario.duration)
    );
    let _ = writeln!(
        out,
        "liveness = {}   # then everything heals and every pair must have a master again",
        dur(scenario.liveness)
    );
    let _ = writeln!(out, "seed = {}", scenario.seed);
    if topology.election != ElectionCode::Real {
        let _ = writeln!(out, "election = {}", quote(&topology.election.to_string()));
    }

    let zk = &topology.zk;
    out.push_str("\n[zookeeper]\n");
    let _ = writeln!(out, "tick_time = {}", dur(zk.tick_time));
    let _ = writeln!(out, "init_limit = {}", zk.init_limit);
    let _ = writeln!(out, "sync_limit = {}", zk.sync_limit);
    let _ = writeln!(out, "session_timeout = {}", dur(zk.session_timeout));
    // `client_model = "java-defaults"` is written expanded: "java" with its two values.
    if let Some(timeout) = zk.connection_timeout {
        let _ = writeln!(out, "connection_timeout = {}", dur(timeout));
    }
    let model = match topology.client_model {
        ClientModel::Rust => "rust",
        ClientModel::Java => "java",
    };
    let _ = writeln!(out, "client_model = {}", quote(model));
    let servers = |observer: bool| -> Vec<String> {
        zk.servers
            .iter()
            .filter(|s| s.observer == observer)
            .map(server)
            .collect()
    };
    out.push_str(&inline_list("voters", &servers(false)));
    let observers = servers(true);
    if !observers.is_empty() {
        out.push_str(&inline_list("observers", &observers));
    }

    for pair in &topology.pairs {
        out.push_str("\n[[pair]]\n");
        let _ = writeln!(out, "name = {}", quote(&pair.name));
        let nodes: Vec<String> = pair
            .nodes
            .iter()
            .map(|n| node(n, scenario.programs.of(&n.name)))
            .collect();
        out.push_str(&inline_list("nodes", &nodes));
        let _ = writeln!(out, "database = {}", database(&pair.database));
        if pair.write_period != DEFAULT_WRITE_PERIOD {
            let _ = writeln!(out, "write_period = {}", dur(pair.write_period));
        }
        if pair.health_period != DEFAULT_HEALTH_PERIOD {
            let _ = writeln!(out, "health_period = {}", dur(pair.health_period));
        }
    }

    for latency in &topology.latencies {
        out.push_str("\n[[latency]]\n");
        let _ = writeln!(
            out,
            "between = {}",
            list(&[latency.a.clone(), latency.b.clone()])
        );
        let _ = writeln!(out, "base = {}", dur(latency.base));
        if !latency.jitter.is_zero() {
            let _ = writeln!(out, "jitter = {}", dur(latency.jitter));
        }
    }

    let mut merged_resumes = vec![false; scenario.steps.len()];
    for (i, step) in scenario.steps.iter().enumerate() {
        if merged_resumes[i] {
            continue;
        }
        out.push_str("\n[[step]]\n");
        let _ = writeln!(out, "at = {}", dur(step.at));
        let mut keys = action_keys(&step.action);
        if let Action::Fault(Fault::Pause { target }) = &step.action
            && let Some(j) = resume_written_as_for(&scenario.steps, i, target)
        {
            merged_resumes[j] = true;
            keys.push(("for", dur(scenario.steps[j].at - step.at)));
        }
        for (key, value) in keys {
            let _ = writeln!(out, "{key} = {value}");
        }
    }

    for expectation in &scenario.expectations {
        out.push_str("\n[[expect]]\n");
        for (key, value) in expectation_keys(expectation) {
            let _ = writeln!(out, "{key} = {value}");
        }
    }

    let invariants = &scenario.invariants;
    if !invariants.skip.is_empty()
        || invariants.no_master_bound != DEFAULT_NO_MASTER_BOUND
        || invariants.wrong_priority_bound != DEFAULT_WRONG_PRIORITY_BOUND
    {
        out.push_str("\n[invariants]\n");
        if !invariants.skip.is_empty() {
            let codes: Vec<String> = invariants
                .skip
                .iter()
                .map(|i| i.code().to_string())
                .collect();
            let _ = writeln!(out, "skip = {}", list(&codes));
        }
        if invariants.no_master_bound != DEFAULT_NO_MASTER_BOUND {
            let _ = writeln!(out, "no_master_bound = {}", dur(invariants.no_master_bound));
        }
        if invariants.wrong_priority_bound != DEFAULT_WRONG_PRIORITY_BOUND {
            let _ = writeln!(
                out,
                "wrong_priority_bound = {}",
                dur(invariants.wrong_priority_bound)
            );
        }
    }

    // Declared programs a node runs, with their commands resolved: the file then runs from
    // wherever it is written.
    let mut declared: Vec<(String, Vec<String>)> = Vec::new();
    for (_, program) in scenario.programs.third_party() {
        if let Some(command) = scenario.programs.command(program)
            && !declared.iter().any(|(name, _)| name == program)
        {
            declared.push((program.to_string(), command));
        }
    }
    if !declared.is_empty() {
        out.push_str("\n[programs]\n");
        for (name, command) in declared {
            let _ = writeln!(out, "{} = {{ command = {} }}", quote(&name), list(&command));
        }
    }
    out
}

/// The resume of `target` that `pause … for` would recreate exactly: the next resume of the
/// same target, placed where the reader puts a `for` resume (right after the pause when both
/// share a time, otherwise first among the steps of its time).
fn resume_written_as_for(steps: &[Step], pause: usize, target: &Target) -> Option<usize> {
    let j = pause
        + 1
        + steps[pause + 1..].iter().position(
            |s| matches!(&s.action, Action::Fault(Fault::Resume { target: t }) if t == target),
        )?;
    let at = steps[j].at;
    let in_place = if at == steps[pause].at {
        j == pause + 1
    } else {
        steps[..j].iter().all(|s| s.at < at)
    };
    in_place.then_some(j)
}

/// The keys of a step after `at`, in the order the README documents them.
fn action_keys(action: &Action) -> Vec<(&'static str, String)> {
    let target = |t: &Target| ("target", quote(&t.to_string()));
    let node = |n: &String| ("target", quote(n));
    let mut keys = vec![("do", quote(action_name(action)))];
    match action {
        Action::Fault(fault) => match fault {
            Fault::Partition { a, b }
            | Fault::Loss { a, b, .. }
            | Fault::Latency { a, b, .. }
            | Fault::Bridge { a, b, .. } => {
                keys.push(("a", group(a)));
                keys.push(("b", group(b)));
                match fault {
                    Fault::Loss { probability, .. } => {
                        keys.push(("probability", float(*probability)))
                    }
                    Fault::Latency { extra, .. } => keys.push(("extra", dur(*extra))),
                    Fault::Bridge { bridge, .. } => keys.push(("via", quote(bridge))),
                    _ => {}
                }
            }
            Fault::PartitionOneWay { from, to } => {
                keys.push(("from", group(from)));
                keys.push(("to", group(to)));
            }
            Fault::IsolateSite { site } => keys.push(("site", quote(site))),
            Fault::Heal | Fault::ClearLinkFaults => {}
            Fault::Crash { target: t, hard } => {
                keys.push(target(t));
                if *hard {
                    keys.push(("hard", "true".into()));
                }
            }
            Fault::Start { target: t }
            | Fault::Restart { target: t }
            | Fault::Wipe { target: t }
            | Fault::Pause { target: t }
            | Fault::Resume { target: t }
            | Fault::ClockReset { target: t } => keys.push(target(t)),
            Fault::ClockOffset { target: t, millis } => {
                keys.push(target(t));
                keys.push(("by", signed(*millis)));
            }
            Fault::ClockDrift { target: t, rate } => {
                keys.push(target(t));
                keys.push(("rate", float(*rate)));
            }
            Fault::ClockJump {
                target: t,
                millis,
                monotonic,
            } => {
                keys.push(target(t));
                keys.push(("by", signed(*millis)));
                if *monotonic {
                    keys.push(("monotonic", "true".into()));
                }
            }
            Fault::ClockStrobe {
                target: t,
                millis,
                period,
                duration,
            } => {
                keys.push(target(t));
                keys.push(("by", signed(*millis)));
                keys.push(("every", dur(*period)));
                keys.push(("for", dur(*duration)));
            }
        },
        Action::Relinquish { node: n } | Action::Rejoin { node: n } => keys.push(node(n)),
        Action::SetPriority { node: n, priority } => {
            keys.push(node(n));
            keys.push(("priority", priority.to_string()));
        }
        Action::BreakHealth { node: n, link } | Action::HealHealth { node: n, link } => {
            keys.push(node(n));
            keys.push(("link", quote(&link.to_string())));
        }
        Action::DeleteElection { pair } => keys.push(("pair", quote(pair))),
    }
    keys
}

/// The `do` word of an action (as `scenarios/README.md` lists them).
pub fn action_name(action: &Action) -> &'static str {
    match action {
        Action::Fault(fault) => match fault {
            Fault::Partition { .. } => "partition",
            Fault::PartitionOneWay { .. } => "one-way",
            Fault::IsolateSite { .. } => "isolate-site",
            Fault::Bridge { .. } => "bridge",
            Fault::Heal => "heal",
            Fault::Loss { .. } => "loss",
            Fault::Latency { .. } => "latency",
            Fault::ClearLinkFaults => "clear-link-faults",
            Fault::Crash { .. } => "crash",
            Fault::Start { .. } => "start",
            Fault::Restart { .. } => "restart",
            Fault::Wipe { .. } => "wipe",
            Fault::Pause { .. } => "pause",
            Fault::Resume { .. } => "resume",
            Fault::ClockOffset { .. } => "clock-offset",
            Fault::ClockDrift { .. } => "clock-drift",
            Fault::ClockJump { .. } => "clock-jump",
            Fault::ClockStrobe { .. } => "clock-strobe",
            Fault::ClockReset { .. } => "clock-reset",
        },
        Action::Relinquish { .. } => "relinquish",
        Action::Rejoin { .. } => "rejoin",
        Action::SetPriority { .. } => "set-priority",
        Action::BreakHealth { .. } => "break-health",
        Action::HealHealth { .. } => "heal-health",
        Action::DeleteElection { .. } => "delete-election",
    }
}

fn expectation_keys(expectation: &Expectation) -> Vec<(&'static str, String)> {
    match expectation {
        Expectation::MasterAt { node, at, .. } => vec![("master", quote(node)), ("at", dur(*at))],
        Expectation::NoMaster { pair, from, until } => vec![
            ("no_master", quote(pair)),
            ("from", dur(*from)),
            ("until", dur(*until)),
        ],
        Expectation::FailoverWithin {
            pair,
            after,
            within,
        } => vec![
            ("failover", quote(pair)),
            ("after", dur(*after)),
            ("within", dur(*within)),
        ],
        Expectation::Violation(invariant) => vec![("violation", quote(invariant.code()))],
    }
}

fn server(s: &ZkServerSpec) -> String {
    format!("{{ name = {}, site = {} }}", quote(&s.name), quote(&s.site))
}

fn node(n: &NodeSpec, program: &str) -> String {
    let policy = match n.policy {
        Policy::PreEmptive => "pre-emptive",
        Policy::Sticky => "sticky",
    };
    let mut program = if program == BUILT_IN {
        String::new()
    } else {
        format!(", program = {}", quote(program))
    };
    if let Some(timeout) = n.session_timeout {
        let _ = write!(program, ", session_timeout = {}", dur(timeout));
    }
    format!(
        "{{ name = {}, site = {}, priority = {}, policy = {}{program} }}",
        quote(&n.name),
        quote(&n.site),
        n.priority,
        quote(policy)
    )
}

fn database(db: &DatabaseSpec) -> String {
    let mode = match db.mode {
        DatabaseMode::Single => "single",
        DatabaseMode::PrimaryReplica => "primary-replica",
        DatabaseMode::MultiMaster => "multi-master",
    };
    let mut out = format!(
        "{{ name = {}, site = {}, mode = {}",
        quote(&db.name),
        quote(&db.site),
        quote(mode)
    );
    if let Some(site) = &db.replica_site {
        let _ = write!(out, ", replica_site = {}", quote(site));
    }
    if db.write_latency != super::validate::DEFAULT_WRITE_LATENCY {
        let _ = write!(out, ", write_latency = {}", dur(db.write_latency));
    }
    if let Some(run_once) = &db.run_once {
        let _ = write!(
            out,
            ", run_once = {{ update_interval = {}, wait_interval = {} }}",
            dur(run_once.update_interval),
            dur(run_once.wait_interval)
        );
    }
    if let Replication::Asynchronous { lag } = db.replication {
        let _ = write!(
            out,
            ", replication = \"asynchronous\", replication_lag = {}",
            dur(lag)
        );
    }
    if !db.fence {
        out.push_str(", fence = false");
    }
    out.push_str(" }");
    out
}

/// `key = [` one entry per line `]`, as the hand-written files lay out servers and nodes.
fn inline_list(key: &str, entries: &[String]) -> String {
    let mut out = format!("{key} = [\n");
    for entry in entries {
        let _ = writeln!(out, "  {entry},");
    }
    out.push_str("]\n");
    out
}

fn group(g: &Group) -> String {
    match g {
        Group::Site(site) => quote(site),
        Group::Hosts(hosts) if hosts.len() == 1 => quote(&hosts[0]),
        Group::Hosts(hosts) => list(hosts),
    }
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// A TOML basic string.
fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn dur(d: Duration) -> String {
    quote(&format_duration(d))
}

/// `+30s`, `-2.5s`: the signed millisecond amounts of clock steps.
fn signed(millis: i64) -> String {
    let sign = if millis < 0 { "-" } else { "+" };
    quote(&format!(
        "{sign}{}",
        format_duration(Duration::from_millis(millis.unsigned_abs()))
    ))
}

/// A TOML float that reads back as the same `f64` (`{:?}` is the shortest exact form and
/// always has a `.` or an exponent).
fn float(value: f64) -> String {
    format!("{value:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Every scenario QA wrote reads back unchanged after writing it out.
    #[test]
    fn every_scenario_file_round_trips() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let files = crate::scenario::files_in(&dir).unwrap();
        assert!(files.len() > 20, "found {} scenario files", files.len());
        for file in files {
            let scenario = crate::scenario::load(&file).unwrap();
            let text = to_toml(&scenario, "written back");
            let again = crate::scenario::parse(&scenario.name, "written.toml", &text)
                .unwrap_or_else(|e| panic!("{}: {e:?}\n{text}", file.display()));
            assert_eq!(again, scenario, "{}\n{text}", file.display());
        }
    }

    #[test]
    fn node_programs_and_declared_commands_are_written_back() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let text = std::fs::read_to_string(dir.join("master-crash.toml"))
            .unwrap()
            .replace(
                "policy = \"pre-emptive\" }",
                "policy = \"pre-emptive\", program = \"mine\" }",
            )
            + "\n[programs]\nmine = { command = [\"python3\", \"adapters/mine.py\"] }\n";
        let mut scenario = crate::scenario::parse("mine", "mine.toml", &text).unwrap();
        scenario.programs.resolve_relative_to(Path::new("/scn"));
        assert_eq!(scenario.programs.of("a2"), "mine");
        let written = to_toml(&scenario, "");
        assert!(written.contains("program = \"mine\""), "{written}");
        assert!(
            written.contains("\"mine\" = { command = [\"python3\", \"/scn/adapters/mine.py\"] }"),
            "{written}"
        );
        let again = crate::scenario::parse("mine", "written.toml", &written).unwrap();
        assert_eq!(again, scenario);
    }

    #[test]
    fn a_pause_and_its_resume_are_written_with_for() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let scenario =
            crate::scenario::load(&dir.join("gc-pause-longer-than-session.toml")).unwrap();
        let text = to_toml(&scenario, "");
        assert!(
            text.contains("do = \"pause\"\ntarget = \"a1\"\nfor = \"25s\"\n"),
            "{text}"
        );
        assert!(!text.contains("resume"), "{text}");
    }
}
