//! From the file as written ([`super::format`]) to a [`Scenario`]: defaults, names resolved,
//! times checked, one [`Diagnostic`] per problem (all of them, not just the first).

use super::error::{Diagnostic, suggestion};
use super::format::{self, S, ScenarioFile};
use super::programs::{self, DeclaredProgram, Programs};
use super::{Scenario, Step};
use crate::check::Invariant;
use crate::duration::parse_duration;
use crate::election::{ElectionCode, Policy};
use crate::sim::topology::{
    DEFAULT_HEALTH_PERIOD, DEFAULT_WRITE_PERIOD, DatabaseMode, DatabaseSpec, NodeSpec, PairSpec,
    Replication, RunOnceSpec, SiteLatency, Topology, ZkServerSpec, ZkSpec,
};
use crate::zk::client::ClientModel;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

/// The words that target whichever ZooKeeper server holds a role when the step runs.
pub use crate::sim::fault::{ZK_FOLLOWER, ZK_LEADER};

const DEFAULT_DURATION: Duration = Duration::from_secs(60);
const DEFAULT_LIVENESS: Duration = Duration::from_secs(60);
pub const DEFAULT_NO_MASTER_BOUND: Duration = Duration::from_secs(40);
pub const DEFAULT_WRONG_PRIORITY_BOUND: Duration = Duration::from_secs(30);
pub const DEFAULT_WRITE_LATENCY: Duration = Duration::from_millis(2);
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// `client_model = "java-defaults"`: the Java client as a JVM deployment gets it when it sets
/// nothing, i.e. Curator's `CuratorFrameworkFactory` defaults.
pub const JAVA_DEFAULTS: &str = "java-defaults";
/// Curator's default `sessionTimeoutMs` (`CuratorFrameworkFactory.DEFAULT_SESSION_TIMEOUT_MS`).
pub const CURATOR_SESSION_TIMEOUT: Duration = Duration::from_secs(60);
/// Curator's default `connectionTimeoutMs` (`DEFAULT_CONNECTION_TIMEOUT_MS`).
pub const CURATOR_CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);

/// Parses and validates `text`; `name` becomes the scenario's name.
pub fn scenario(name: &str, text: &str) -> Result<Scenario, Vec<Diagnostic>> {
    let file: ScenarioFile = toml::from_str(text).map_err(|e| vec![toml_error(&e)])?;
    let mut v = Validator {
        text: text.to_string(),
        ..Validator::default()
    };
    let result = v.scenario(name, file);
    if v.errors.is_empty() {
        Ok(result)
    } else {
        v.errors.sort_by_key(|d| (d.span.start, d.span.end));
        Err(v.errors)
    }
}

/// toml's message, with a "did you mean" for misspelt keys.
fn toml_error(e: &toml::de::Error) -> Diagnostic {
    let message = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    // serde: "unknown field `dration`, expected one of `duration`, `liveness`, `seed`"
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = if field == "sites" {
            // TOML puts a key written after a [table] header into that table.
            "; 'sites' belongs at the top of the file, before the first [table]".to_string()
        } else {
            suggestion(field, &valid)
        };
        return Diagnostic::new(span, format!("unknown key '{field}'{hint}"));
    }
    // serde: "missing field `sites`"
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some((field, _)) = rest.split_once('`')
    {
        return Diagnostic::new(span, format!("missing key '{field}'"));
    }
    Diagnostic::new(span, message)
}

#[derive(Default)]
pub(super) struct Validator {
    /// The file's text, to name lines in messages.
    pub(super) text: String,
    pub(super) errors: Vec<Diagnostic>,
    pub(super) sites: Vec<String>,
    /// Every host name with the span where it was defined.
    pub(super) hosts: BTreeMap<String, Range<usize>>,
    /// Node name -> pair name.
    pub(super) node_pair: BTreeMap<String, String>,
    pub(super) pairs: BTreeSet<String>,
    pub(super) end: Duration,
    /// End of the fault phase: steps happen before it.
    pub(super) duration: Duration,
    pub(super) programs: Programs,
}

impl Validator {
    pub(super) fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(Diagnostic::new(span, message));
    }

    pub(super) fn duration(&mut self, value: &S<String>) -> Option<Duration> {
        match parse_duration(value.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(value.span(), e);
                None
            }
        }
    }

    pub(super) fn duration_or(&mut self, value: &Option<S<String>>, default: Duration) -> Duration {
        value
            .as_ref()
            .and_then(|v| self.duration(v))
            .unwrap_or(default)
    }

    /// A recurring period of a pair's nodes (`what` names the field): longer than zero.
    fn period(&mut self, value: &Option<S<String>>, what: &str, default: Duration) -> Duration {
        let Some(value) = value else { return default };
        match self.duration(value) {
            Some(d) if d.is_zero() => {
                self.error(value.span(), format!("{what} must be longer than zero"));
                default
            }
            d => d.unwrap_or(default),
        }
    }

    /// A point of the run: not negative, not past its end.
    pub(super) fn time(&mut self, value: &S<String>, what: &str) -> Option<Duration> {
        self.time_until(value, what, self.end, "the end of the run")
    }

    /// A point of the run: not negative, not past `limit`.
    pub(super) fn time_until(
        &mut self,
        value: &S<String>,
        what: &str,
        limit: Duration,
        limit_name: &str,
    ) -> Option<Duration> {
        if value.get_ref().trim_start().starts_with('-') {
            self.error(
                value.span(),
                format!(
                    "{what} '{}' is before the start of the run (0s)",
                    value.get_ref()
                ),
            );
            return None;
        }
        let at = self.duration(value)?;
        if at > limit {
            self.error(
                value.span(),
                format!(
                    "{what} '{}' is after {limit_name} at {}",
                    value.get_ref(),
                    crate::check::secs(limit)
                ),
            );
            return None;
        }
        Some(at)
    }

    pub(super) fn word<T: Copy>(
        &mut self,
        value: &S<String>,
        what: &str,
        words: &[(&str, T)],
    ) -> Option<T> {
        if let Some((_, v)) = words.iter().find(|(w, _)| *w == value.get_ref()) {
            return Some(*v);
        }
        let names: Vec<&str> = words.iter().map(|(w, _)| *w).collect();
        let hint = suggestion(value.get_ref(), &names);
        self.error(
            value.span(),
            format!("unknown {what} '{}'{hint}", value.get_ref()),
        );
        None
    }

    pub(super) fn site(&mut self, value: &S<String>) -> String {
        if !self.sites.contains(value.get_ref()) {
            let sites: Vec<&str> = self.sites.iter().map(String::as_str).collect();
            let hint = suggestion(value.get_ref(), &sites);
            let message = format!("unknown site '{}'{hint}", value.get_ref());
            self.error(value.span(), message);
        }
        value.get_ref().clone()
    }

    /// Defines a host name; names must be unique among hosts, sites and pairs.
    fn define_host(&mut self, name: &str, span: Range<usize>) {
        if let Some(first) = self.hosts.get(name) {
            let first = first.clone();
            self.error(
                span,
                format!(
                    "host name '{name}' is already used on line {}",
                    self.text[..first.start.min(self.text.len())]
                        .matches('\n')
                        .count()
                        + 1
                ),
            );
        } else if self.sites.iter().any(|s| s == name) {
            self.error(
                span,
                format!("'{name}' is a site's name; a host needs a name of its own"),
            );
        } else if name == ZK_LEADER || name == ZK_FOLLOWER {
            self.error(
                span,
                format!("'{name}' is reserved for a server holding that ZooKeeper role"),
            );
        } else {
            self.hosts.insert(name.to_string(), span);
        }
    }

    fn election_code(&mut self, name: &S<String>) -> ElectionCode {
        match name.get_ref().parse::<ElectionCode>() {
            Ok(code) if code.available() => code,
            Ok(code) => {
                self.error(
                    name.span(),
                    format!("election code '{code}' needs a build with the `testbed` feature"),
                );
                ElectionCode::Real
            }
            Err(_) => {
                let hint = suggestion(name.get_ref(), &ElectionCode::NAMES);
                self.error(
                    name.span(),
                    format!("unknown election code '{}'{hint}", name.get_ref()),
                );
                ElectionCode::Real
            }
        }
    }

    pub(super) fn unknown_host(&mut self, span: Range<usize>, name: &str, extra: &[&str]) {
        let mut known: Vec<&str> = self.hosts.keys().map(String::as_str).collect();
        known.extend_from_slice(extra);
        let hint = suggestion(name, &known);
        self.error(span, format!("unknown host '{name}'{hint}"));
    }

    fn scenario(&mut self, name: &str, file: ScenarioFile) -> Scenario {
        let run = file.run.map(S::into_inner);
        let duration = self.duration_or(
            &run.as_ref().and_then(|r| r.duration.clone()),
            DEFAULT_DURATION,
        );
        let liveness = self.duration_or(
            &run.as_ref().and_then(|r| r.liveness.clone()),
            DEFAULT_LIVENESS,
        );
        let seed = run
            .as_ref()
            .and_then(|r| r.seed.as_ref())
            .map_or(1, |s| *s.get_ref());
        let election = run
            .as_ref()
            .and_then(|r| r.election.as_ref())
            .map_or(ElectionCode::Real, |e| self.election_code(e));
        self.end = duration + liveness;
        self.duration = duration;

        let mut seen_sites = BTreeSet::new();
        for site in file.sites.get_ref() {
            if !seen_sites.insert(site.get_ref().clone()) {
                self.error(
                    site.span(),
                    format!("site '{}' is listed twice", site.get_ref()),
                );
            }
        }
        if seen_sites.is_empty() {
            self.error(file.sites.span(), "list at least one site");
        }
        self.sites = file
            .sites
            .get_ref()
            .iter()
            .map(|s| s.get_ref().clone())
            .collect();

        let (zk, client_model) = self.zookeeper(file.zookeeper);
        self.programs = self.declared_programs(file.programs);
        let pairs: Vec<PairSpec> = file.pair.into_iter().flat_map(|p| self.pair(p)).collect();
        let latencies = file
            .latency
            .into_iter()
            .filter_map(|l| self.latency(l))
            .collect();

        let mut steps = Vec::new();
        for step in file.step {
            self.step(step, &mut steps);
        }
        steps.sort_by_key(|s: &Step| s.at);

        let invariants_span = file.invariants.as_ref().map(|t| t.span());
        let invariants = self.invariants(file.invariants);
        // A liveness bound no longer than the liveness phase can never be exceeded: the
        // invariant would pass without being judged.
        let liveness_span = run
            .as_ref()
            .and_then(|r| r.liveness.as_ref().map(|l| l.span()))
            .or(invariants_span)
            .unwrap_or(0..0);
        for (invariant, bound, key) in [
            (
                Invariant::NoMaster,
                invariants.no_master_bound,
                "no_master_bound",
            ),
            (
                Invariant::WrongPriority,
                invariants.wrong_priority_bound,
                "wrong_priority_bound",
            ),
        ] {
            if !invariants.skip.contains(&invariant) && liveness <= bound {
                self.error(
                    liveness_span.clone(),
                    format!(
                        "the liveness phase ({}) must be longer than {key} ({}) for {invariant} to be judged: lengthen [run] liveness, shorten the bound in [invariants], or skip {invariant}",
                        crate::check::secs(liveness),
                        crate::check::secs(bound)
                    ),
                );
            }
        }
        let expectations = file
            .expect
            .into_iter()
            .filter_map(|e| self.expectation(e, &invariants))
            .collect();

        Scenario {
            name: name.to_string(),
            topology: Topology {
                sites: self.sites.clone(),
                zk,
                pairs,
                client_model,
                latencies,
                election,
            },
            duration,
            liveness,
            seed,
            steps,
            expectations,
            invariants,
            programs: std::mem::take(&mut self.programs),
        }
    }

    fn declared_programs(
        &mut self,
        table: Option<S<BTreeMap<String, S<format::ProgramEntry>>>>,
    ) -> Programs {
        let mut declared = BTreeMap::new();
        for (name, entry) in table.map(S::into_inner).unwrap_or_default() {
            let span = entry.span();
            if name == programs::BUILT_IN || programs::SHIPPED.contains(&name.as_str()) {
                self.error(
                    span,
                    format!("'{name}' is a built-in program's name; give yours another"),
                );
                continue;
            }
            let command = entry.into_inner().command;
            if command.get_ref().is_empty() || command.get_ref()[0].get_ref().trim().is_empty() {
                self.error(
                    command.span(),
                    format!(
                        "program '{name}': command needs the program to run, e.g. [\"python3\", \"adapters/mine.py\"]"
                    ),
                );
                continue;
            }
            declared.insert(
                name,
                DeclaredProgram {
                    command: command
                        .into_inner()
                        .into_iter()
                        .map(S::into_inner)
                        .collect(),
                },
            );
        }
        Programs::new(declared)
    }

    fn zookeeper(&mut self, table: S<format::ZooKeeperTable>) -> (ZkSpec, ClientModel) {
        let table = table.into_inner();
        let mut servers = Vec::new();
        if table.voters.get_ref().is_empty() {
            self.error(table.voters.span(), "an ensemble needs at least one voter");
        }
        let voters = table.voters.into_inner().into_iter().map(|v| (v, false));
        for (entry, observer) in voters.chain(table.observers.into_iter().map(|o| (o, true))) {
            let entry = entry.into_inner();
            self.define_host(entry.name.get_ref(), entry.name.span());
            let site = self.site(&entry.site);
            servers.push(ZkServerSpec {
                name: entry.name.into_inner(),
                site,
                observer,
            });
        }
        let tick_time = self.duration_or(&table.tick_time, Duration::from_secs(2));
        if tick_time.is_zero()
            && let Some(t) = &table.tick_time
        {
            self.error(t.span(), "tick_time must be more than 0");
        }
        let client_model = table.client_model.as_ref().and_then(|m| {
            self.word(
                m,
                "client model",
                &[
                    ("rust", (ClientModel::Rust, false)),
                    ("java", (ClientModel::Java, false)),
                    (JAVA_DEFAULTS, (ClientModel::Java, true)),
                ],
            )
        });
        let java_defaults = client_model.is_some_and(|(_, defaults)| defaults);
        let (default_session, default_connection) = if java_defaults {
            (CURATOR_SESSION_TIMEOUT, Some(CURATOR_CONNECTION_TIMEOUT))
        } else {
            (DEFAULT_SESSION_TIMEOUT, None)
        };
        if java_defaults {
            // The defaults are the point: a file that sets its own values is plain "java".
            for (key, value) in [
                ("session_timeout", &table.session_timeout),
                ("connection_timeout", &table.connection_timeout),
            ] {
                if let Some(value) = value {
                    self.error(
                        value.span(),
                        format!(
                            "client_model \"{JAVA_DEFAULTS}\" brings Curator's defaults (session_timeout 60s, connection_timeout 15s); to set {key} yourself write client_model = \"java\""
                        ),
                    );
                }
            }
        }
        let session_timeout = self.duration_or(&table.session_timeout, default_session);
        let connection_timeout = match &table.connection_timeout {
            Some(value) => self.positive(value, "connection_timeout"),
            None => default_connection,
        };
        (
            ZkSpec {
                servers,
                tick_time,
                init_limit: table.init_limit.map_or(10, S::into_inner),
                sync_limit: table.sync_limit.map_or(5, S::into_inner),
                session_timeout,
                connection_timeout,
            },
            client_model.map(|(model, _)| model).unwrap_or_default(),
        )
    }

    /// A duration that must be longer than zero (`what` names the key).
    fn positive(&mut self, value: &S<String>, what: &str) -> Option<Duration> {
        match self.duration(value) {
            Some(d) if d.is_zero() => {
                self.error(value.span(), format!("{what} must be longer than zero"));
                None
            }
            d => d,
        }
    }

    /// A database's replication: only a primary/replica database has one to choose.
    fn replication(&mut self, database: &format::DatabaseEntry, mode: DatabaseMode) -> Replication {
        let asynchronous = database.replication.as_ref().and_then(|r| {
            self.word(
                r,
                "replication",
                &[("synchronous", false), ("asynchronous", true)],
            )
        });
        if mode != DatabaseMode::PrimaryReplica
            && let Some(r) = &database.replication
        {
            self.error(
                r.span(),
                "replication applies to a primary-replica database (mode = \"primary-replica\")",
            );
        }
        if asynchronous != Some(true)
            && let Some(lag) = &database.replication_lag
        {
            self.error(
                lag.span(),
                "replication_lag applies to asynchronous replication (replication = \"asynchronous\")",
            );
        }
        if asynchronous == Some(true) {
            let lag = self.duration_or(&database.replication_lag, Duration::ZERO);
            Replication::Asynchronous { lag }
        } else {
            Replication::Synchronous
        }
    }

    fn pair(&mut self, table: S<format::PairTable>) -> Vec<PairSpec> {
        let table = table.into_inner();
        let count = match &table.count {
            Some(c) if *c.get_ref() == 0 => {
                self.error(c.span(), "count must be at least 1");
                return vec![];
            }
            Some(c) => {
                // Every name must be stamped, or the copies would collide.
                let mut names = vec![&table.name, &table.database.get_ref().name];
                names.extend(table.nodes.get_ref().iter().map(|n| &n.get_ref().name));
                for name in names {
                    if !name.get_ref().contains("{i}") {
                        self.error(
                            name.span(),
                            format!(
                                "with count, every name needs '{{i}}' (e.g. '{}-{{i}}')",
                                name.get_ref()
                            ),
                        );
                    }
                }
                *c.get_ref()
            }
            None => 1,
        };
        if table.nodes.get_ref().is_empty() {
            self.error(table.nodes.span(), "a pair needs at least one node");
        }
        let database = table.database.into_inner();
        let mode = database.mode.as_ref().and_then(|m| {
            self.word(
                m,
                "database mode",
                &[
                    ("single", DatabaseMode::Single),
                    ("primary-replica", DatabaseMode::PrimaryReplica),
                    ("multi-master", DatabaseMode::MultiMaster),
                ],
            )
        });
        let mode = mode.unwrap_or(DatabaseMode::Single);
        let replica_site = database.replica_site.as_ref().map(|s| self.site(s));
        // Both modes run a second member, `<name>-replica`, in replica_site.
        let two_members = mode != DatabaseMode::Single;
        if two_members && replica_site.is_none() {
            self.error(
                database.name.span(),
                format!(
                    "a {} database needs replica_site",
                    if mode == DatabaseMode::PrimaryReplica {
                        "primary-replica"
                    } else {
                        "multi-master"
                    }
                ),
            );
        }
        let db_site = self.site(&database.site);
        let write_latency = self.duration_or(&database.write_latency, DEFAULT_WRITE_LATENCY);
        let run_once = database.run_once.as_ref().map(|r| RunOnceSpec {
            update_interval: self
                .duration(&r.get_ref().update_interval)
                .unwrap_or_default(),
            wait_interval: self
                .duration(&r.get_ref().wait_interval)
                .unwrap_or_default(),
        });
        let replication = self.replication(&database, mode);
        let fence = database.fence.as_ref().is_none_or(|f| *f.get_ref());
        let write_period = self.period(&table.write_period, "write_period", DEFAULT_WRITE_PERIOD);
        let health_period =
            self.period(&table.health_period, "health_period", DEFAULT_HEALTH_PERIOD);
        let mut nodes = Vec::new();
        for node in table.nodes.get_ref() {
            let node = node.get_ref();
            let policy = self.word(
                &node.policy,
                "policy",
                &[
                    ("pre-emptive", Policy::PreEmptive),
                    ("sticky", Policy::Sticky),
                ],
            );
            let site = self.site(&node.site);
            let session_timeout = node
                .session_timeout
                .as_ref()
                .and_then(|t| self.positive(t, "session_timeout"));
            nodes.push((
                node,
                site,
                policy.unwrap_or(Policy::Sticky),
                session_timeout,
            ));
        }
        let program = self.pair_program(&nodes.iter().map(|(n, ..)| *n).collect::<Vec<_>>());

        let mut pairs = Vec::new();
        for i in 1..=count {
            let stamp = |name: &S<String>| name.get_ref().replace("{i}", &i.to_string());
            let pair_name = stamp(&table.name);
            if self.hosts.contains_key(&pair_name) || !self.pairs.insert(pair_name.clone()) {
                self.error(
                    table.name.span(),
                    format!("pair name '{pair_name}' is already a pair's or host's name"),
                );
            }
            let db_name = stamp(&database.name);
            self.define_host(&db_name, database.name.span());
            if two_members {
                self.define_host(&format!("{db_name}-replica"), database.name.span());
            }
            // The pair's message bus (`crate::bus`), which steps may name like any host.
            self.define_host(&crate::bus::bus_host_name(&pair_name), table.name.span());
            let mut specs = Vec::new();
            for (node, site, policy, session_timeout) in &nodes {
                let name = stamp(&node.name);
                self.define_host(&name, node.name.span());
                self.node_pair.insert(name.clone(), pair_name.clone());
                self.programs.set(&name, &program);
                specs.push(NodeSpec {
                    name,
                    site: site.clone(),
                    priority: *node.priority.get_ref(),
                    policy: *policy,
                    session_timeout: *session_timeout,
                });
            }
            pairs.push(PairSpec {
                name: pair_name,
                nodes: specs,
                database: DatabaseSpec {
                    name: db_name,
                    site: db_site.clone(),
                    mode,
                    replica_site: replica_site.clone(),
                    write_latency,
                    run_once,
                    replication,
                    fence,
                },
                write_period,
                health_period,
            });
        }
        pairs
    }

    /// The program of a pair's nodes: known, and the same for every node.
    fn pair_program(&mut self, nodes: &[&format::NodeEntry]) -> String {
        let mut chosen: Option<(String, String)> = None;
        for node in nodes {
            let (program, span) = match &node.program {
                Some(p) => (p.get_ref().clone(), p.span()),
                None => (programs::BUILT_IN.to_string(), node.name.span()),
            };
            if !self.programs.knows(&program) {
                let known = self.programs.known_names();
                let valid: Vec<&str> = known.iter().map(String::as_str).collect();
                self.error(
                    span,
                    format!(
                        "unknown program '{program}'{} (a program of your own is declared in [programs])",
                        suggestion(&program, &valid),
                    ),
                );
                continue;
            }
            match &chosen {
                None => chosen = Some((node.name.get_ref().clone(), program)),
                Some((first, theirs)) if *theirs != program => {
                    let message = format!(
                        "{} runs '{program}' but {first} runs '{theirs}': every node of a pair runs the same program (two recipes do not elect each other)",
                        node.name.get_ref()
                    );
                    self.error(span, message);
                }
                Some(_) => {}
            }
        }
        chosen.map_or_else(|| programs::BUILT_IN.to_string(), |(_, p)| p)
    }

    fn latency(&mut self, table: S<format::LatencyTable>) -> Option<SiteLatency> {
        let table = table.into_inner();
        let between = table.between.get_ref();
        if between.len() != 2 {
            self.error(
                table.between.span(),
                "between takes exactly two sites, e.g. [\"dc1\", \"dc2\"]",
            );
            return None;
        }
        let a = self.site(&between[0]);
        let b = self.site(&between[1]);
        let base = self.duration(&table.base)?;
        let jitter = self.duration_or(&table.jitter, Duration::ZERO);
        Some(SiteLatency { a, b, base, jitter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
sites = ["dc1", "dc2", "tb"]

[zookeeper]
voters = [
  { name = "zk1", site = "dc1" },
  { name = "zk2", site = "dc2" },
  { name = "zk3", site = "tb" },
]

[[pair]]
name = "bank"
nodes = [
  { name = "a1", site = "dc1", priority = 100, policy = "pre-emptive" },
  { name = "a2", site = "dc2", priority = 50, policy = "sticky" },
]
database = { name = "db", site = "dc1" }
"#;

    fn parse(extra: &str) -> Result<Scenario, Vec<Diagnostic>> {
        scenario("t", &format!("{BASE}{extra}"))
    }

    fn messages(extra: &str) -> Vec<String> {
        parse(extra)
            .expect_err("the scenario is invalid")
            .into_iter()
            .map(|d| d.message)
            .collect()
    }

    #[test]
    fn defaults_fill_in_what_is_not_written() {
        let s = parse("").unwrap();
        assert_eq!(
            (s.duration, s.liveness, s.seed),
            (DEFAULT_DURATION, DEFAULT_LIVENESS, 1)
        );
        assert_eq!(s.topology.zk.session_timeout, Duration::from_secs(10));
        assert_eq!(s.topology.zk.servers[2].name, "zk3");
        assert_eq!(s.topology.pairs[0].nodes[1].policy, Policy::Sticky);
        assert_eq!(s.topology.pairs[0].database.mode, DatabaseMode::Single);
        assert_eq!(s.topology.client_model, ClientModel::Rust);
    }

    #[test]
    fn steps_are_ordered_and_a_timed_pause_resumes_by_itself() {
        let s = parse(
            r#"
[[step]]
at = "20s"
do = "partition"
a = "dc1"
b = ["zk2", "zk3"]

[[step]]
at = "10s"
do = "pause"
target = "zk-leader"
for = "15s"
"#,
        )
        .unwrap();
        let steps: Vec<(u64, String)> = s
            .steps
            .iter()
            .map(|s| (s.at.as_secs(), s.action.to_string()))
            .collect();
        assert_eq!(
            steps,
            vec![
                (10, "pause zk-leader".to_string()),
                (20, "partition site:dc1 | [zk2,zk3]".to_string()),
                (25, "resume zk-leader".to_string()),
            ]
        );
    }

    #[test]
    fn role_names_are_accepted_in_groups_and_as_targets() {
        let s = parse(
            r#"
[[step]]
at = "10s"
do = "one-way"
from = "zk-leader"
to = ["a1", "zk-follower"]

[[step]]
at = "20s"
do = "crash"
target = "zk-follower"
"#,
        )
        .unwrap();
        let steps: Vec<String> = s.steps.iter().map(|s| s.action.to_string()).collect();
        assert_eq!(
            steps,
            [
                "one-way [zk-leader] -> [a1,zk-follower]",
                "crash zk-follower"
            ]
        );
        let m =
            messages("[[step]]\nat = \"1s\"\ndo = \"partition\"\na = \"zk-lead\"\nb = \"dc2\"\n");
        assert!(m[0].contains("did you mean 'zk-leader'"), "{m:?}");
    }

    #[test]
    fn count_stamps_out_pairs_and_needs_the_placeholder() {
        let text = BASE
            .replace("name = \"bank\"", "name = \"bank-{i}\"\ncount = 3")
            .replace("\"a1\"", "\"a{i}-1\"")
            .replace("\"a2\"", "\"a{i}-2\"")
            .replace("\"db\"", "\"db-{i}\"");
        let s = scenario("t", &text).unwrap();
        let names: Vec<&str> = s.topology.pairs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["bank-1", "bank-2", "bank-3"]);
        assert_eq!(s.topology.pairs[2].nodes[1].name, "a3-2");
        let missing = scenario(
            "t",
            &BASE.replace("name = \"bank\"", "name = \"bank\"\ncount = 2"),
        );
        assert!(
            missing.unwrap_err()[0].message.contains("needs '{i}'"),
            "a stamped pair without {{i}} must be refused"
        );
    }

    #[test]
    fn operator_steps_need_a_node_and_expectations_one_kind() {
        let m = messages("[[step]]\nat = \"1s\"\ndo = \"relinquish\"\ntarget = \"zk1\"\n");
        assert_eq!(
            m,
            ["'zk1' is not a node of a pair (expected one of: a1, a2)"]
        );
        let m = messages("[[expect]]\nmaster = \"a1\"\nno_master = \"bank\"\nat = \"1s\"\n");
        assert!(m[0].contains("exactly one of"), "{m:?}");
        let m = messages("[[expect]]\nmaster = \"a1\"\nat = \"10m\"\n");
        assert!(m[0].contains("after the end of the run"), "{m:?}");
        let m = messages("[[expect]]\nno_master = \"bank\"\nfrom = \"20s\"\nuntil = \"10s\"\n");
        assert_eq!(m, ["'until' is before 'from'"]);
    }

    #[test]
    fn deployment_options_are_read_and_misuse_is_named() {
        let text = BASE
            .replace(
                "policy = \"sticky\" }",
                "policy = \"sticky\", session_timeout = \"4s\" }",
            )
            .replace(
                "database = { name = \"db\", site = \"dc1\" }",
                "database = { name = \"db\", site = \"dc1\", mode = \"primary-replica\", replica_site = \"dc2\", replication = \"asynchronous\", replication_lag = \"250ms\", fence = false }",
            )
            .replace("[zookeeper]\n", "[zookeeper]\nclient_model = \"java-defaults\"\n");
        let s = scenario("t", &text).unwrap();
        let t = &s.topology;
        assert_eq!(
            t.pairs[0].nodes[1].session_timeout,
            Some(Duration::from_secs(4))
        );
        assert_eq!(t.pairs[0].nodes[0].session_timeout, None);
        assert_eq!(
            t.pairs[0].database.replication,
            Replication::Asynchronous {
                lag: Duration::from_millis(250)
            }
        );
        assert!(!t.pairs[0].database.fence);
        assert_eq!(t.client_model, ClientModel::Java);
        assert_eq!(
            (t.zk.session_timeout, t.zk.connection_timeout),
            (CURATOR_SESSION_TIMEOUT, Some(CURATOR_CONNECTION_TIMEOUT))
        );

        let bad = BASE
            .replace(
                "policy = \"sticky\" }",
                "policy = \"sticky\", session_timeout = \"0s\" }",
            )
            .replace(
                "database = { name = \"db\", site = \"dc1\" }",
                "database = { name = \"db\", site = \"dc1\", replication = \"asynchronus\", replication_lag = \"1s\" }",
            )
            .replace(
                "[zookeeper]\n",
                "[zookeeper]\nclient_model = \"java-defaults\"\nsession_timeout = \"5s\"\n",
            );
        let m: Vec<String> = scenario("t", &bad)
            .unwrap_err()
            .into_iter()
            .map(|d| d.message)
            .collect();
        assert_eq!(m.len(), 5, "{m:?}");
        assert!(m[0].contains("brings Curator's defaults"), "{m:?}");
        assert_eq!(m[1], "session_timeout must be longer than zero");
        assert!(
            m[2].starts_with("unknown replication 'asynchronus'"),
            "{m:?}"
        );
        assert!(
            m[3].starts_with("replication applies to a primary-replica"),
            "{m:?}"
        );
        assert!(
            m[4].starts_with("replication_lag applies to asynchronous"),
            "{m:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let m = messages(
            "[[step]]\nat = \"1s\"\ndo = \"crash\"\ntarget = \"a9\"\n\n[[step]]\nat = \"2s\"\ndo = \"loss\"\na = \"dc1\"\nb = \"dc2\"\nprobability = 1.5\n",
        );
        assert_eq!(m.len(), 2, "{m:?}");
        assert!(m[0].starts_with("unknown host 'a9'"), "{m:?}");
        assert_eq!(m[1], "probability must be between 0 and 1");
    }
}
