//! From the file as written ([`super::format`]) to a [`Scenario`]: defaults, names resolved,
//! times checked, one [`Diagnostic`] per problem (all of them, not just the first).

use super::error::{Diagnostic, suggestion};
use super::format::{self, Names, S, ScenarioFile, StepTable};
use super::{Action, Expectation, HealthLink, InvariantSettings, Scenario, Step};
use crate::check::Invariant;
use crate::duration::parse_duration;
use crate::election::Policy;
use crate::sim::fault::{Fault, Group, Target};
use crate::sim::topology::{
    DatabaseMode, DatabaseSpec, NodeSpec, PairSpec, RunOnceSpec, SiteLatency, Topology,
    ZkServerSpec, ZkSpec,
};
use crate::zk::client::ClientModel;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

/// The word that targets whichever ZooKeeper server leads when the step runs.
pub const ZK_LEADER: &str = "zk-leader";

const DEFAULT_DURATION: Duration = Duration::from_secs(60);
const DEFAULT_LIVENESS: Duration = Duration::from_secs(60);
const DEFAULT_NO_MASTER_BOUND: Duration = Duration::from_secs(40);
const DEFAULT_WRONG_PRIORITY_BOUND: Duration = Duration::from_secs(30);
const DEFAULT_WRITE_LATENCY: Duration = Duration::from_millis(2);

/// The step actions and the keys each takes (required first, then optional).
const ACTIONS: &[(&str, &[&str], &[&str])] = &[
    ("partition", &["a", "b"], &[]),
    ("one-way", &["from", "to"], &[]),
    ("isolate-site", &["site"], &[]),
    ("bridge", &["a", "b", "via"], &[]),
    ("heal", &[], &[]),
    ("loss", &["a", "b", "probability"], &[]),
    ("latency", &["a", "b", "extra"], &[]),
    ("clear-link-faults", &[], &[]),
    ("crash", &["target"], &["hard"]),
    ("start", &["target"], &[]),
    ("restart", &["target"], &[]),
    ("wipe", &["target"], &[]),
    ("pause", &["target"], &["for"]),
    ("resume", &["target"], &[]),
    ("clock-offset", &["target", "by"], &[]),
    ("clock-drift", &["target", "rate"], &[]),
    ("clock-jump", &["target", "by"], &["monotonic"]),
    ("clock-strobe", &["target", "by", "every", "for"], &[]),
    ("clock-reset", &["target"], &[]),
    ("relinquish", &["target"], &[]),
    ("rejoin", &["target"], &[]),
    ("set-priority", &["target", "priority"], &[]),
    ("break-health", &["target", "link"], &[]),
    ("heal-health", &["target", "link"], &[]),
];

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
    Diagnostic::new(span, message)
}

#[derive(Default)]
struct Validator {
    /// The file's text, to name lines in messages.
    text: String,
    errors: Vec<Diagnostic>,
    sites: Vec<String>,
    /// Every host name with the span where it was defined.
    hosts: BTreeMap<String, Range<usize>>,
    /// Node name -> pair name.
    node_pair: BTreeMap<String, String>,
    pairs: BTreeSet<String>,
    end: Duration,
    /// End of the fault phase: steps happen before it.
    duration: Duration,
}

impl Validator {
    fn error(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(Diagnostic::new(span, message));
    }

    fn duration(&mut self, value: &S<String>) -> Option<Duration> {
        match parse_duration(value.get_ref()) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(value.span(), e);
                None
            }
        }
    }

    fn duration_or(&mut self, value: &Option<S<String>>, default: Duration) -> Duration {
        value
            .as_ref()
            .and_then(|v| self.duration(v))
            .unwrap_or(default)
    }

    /// A point of the run: not negative, not past its end.
    fn time(&mut self, value: &S<String>, what: &str) -> Option<Duration> {
        self.time_until(value, what, self.end, "the end of the run")
    }

    /// A point of the run: not negative, not past `limit`.
    fn time_until(
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

    fn word<T: Copy>(&mut self, value: &S<String>, what: &str, words: &[(&str, T)]) -> Option<T> {
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

    fn site(&mut self, value: &S<String>) -> String {
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
        } else if name == ZK_LEADER {
            self.error(
                span,
                format!("'{ZK_LEADER}' is reserved for the current ZooKeeper leader"),
            );
        } else {
            self.hosts.insert(name.to_string(), span);
        }
    }

    fn unknown_host(&mut self, span: Range<usize>, name: &str, extra: &[&str]) {
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

        let invariants = self.invariants(file.invariants, zk.session_timeout);
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
            },
            duration,
            liveness,
            seed,
            steps,
            expectations,
            invariants,
        }
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
        let session_timeout = self.duration_or(&table.session_timeout, Duration::from_secs(10));
        let client_model = table.client_model.as_ref().and_then(|m| {
            self.word(
                m,
                "client model",
                &[("rust", ClientModel::Rust), ("java", ClientModel::Java)],
            )
        });
        (
            ZkSpec {
                servers,
                tick_time,
                init_limit: table.init_limit.map_or(10, S::into_inner),
                sync_limit: table.sync_limit.map_or(5, S::into_inner),
                session_timeout,
            },
            client_model.unwrap_or_default(),
        )
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
        if mode == DatabaseMode::PrimaryReplica && replica_site.is_none() {
            self.error(
                database.name.span(),
                "a primary-replica database needs replica_site",
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
            nodes.push((node, site, policy.unwrap_or(Policy::Sticky)));
        }

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
            if mode == DatabaseMode::PrimaryReplica {
                self.define_host(&format!("{db_name}-replica"), database.name.span());
            }
            let mut specs = Vec::new();
            for (node, site, policy) in &nodes {
                let name = stamp(&node.name);
                self.define_host(&name, node.name.span());
                self.node_pair.insert(name.clone(), pair_name.clone());
                specs.push(NodeSpec {
                    name,
                    site: site.clone(),
                    priority: *node.priority.get_ref(),
                    policy: *policy,
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
                },
            });
        }
        pairs
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

    fn step(&mut self, table: S<StepTable>, steps: &mut Vec<Step>) {
        let step = table.get_ref();
        let names: Vec<&str> = ACTIONS.iter().map(|(n, _, _)| *n).collect();
        let Some(&(action, required, optional)) =
            ACTIONS.iter().find(|(n, _, _)| *n == step.action.get_ref())
        else {
            let hint = suggestion(step.action.get_ref(), &names);
            self.error(
                step.action.span(),
                format!("unknown step '{}'{hint}", step.action.get_ref()),
            );
            return;
        };
        let at = self.time_until(
            &step.at,
            "step time",
            self.duration,
            "the end of the fault phase ([run] duration)",
        );
        let mut complete = true;
        for (key, span) in present_keys(step) {
            if !required.contains(&key) && !optional.contains(&key) {
                let takes: Vec<&str> = required.iter().chain(optional).copied().collect();
                let takes = if takes.is_empty() {
                    "nothing besides 'at'".to_string()
                } else {
                    takes.join(", ")
                };
                self.error(
                    span,
                    format!("'{key}' does not apply to '{action}' (it takes: {takes})"),
                );
            }
        }
        let present: Vec<&str> = present_keys(step).into_iter().map(|(k, _)| k).collect();
        for key in required {
            if !present.contains(key) {
                self.error(step.action.span(), format!("'{action}' needs '{key}'"));
                complete = false;
            }
        }
        if !complete {
            return;
        }
        let Some(at) = at else { return };
        let Some(parsed) = self.action(action, step) else {
            return;
        };
        let pause_for = step.for_.as_ref().filter(|_| action == "pause");
        let resume = pause_for.and_then(|f| self.duration(f));
        steps.push(Step { at, action: parsed });
        if let Some(length) = resume {
            let target = match &steps.last().expect("just pushed").action {
                Action::Fault(Fault::Pause { target }) => target.clone(),
                _ => unreachable!("pause parses to a pause fault"),
            };
            steps.push(Step {
                at: at + length,
                action: Action::Fault(Fault::Resume { target }),
            });
        }
    }

    fn action(&mut self, action: &str, step: &StepTable) -> Option<Action> {
        let target = step.target.as_ref();
        Some(match action {
            "partition" => Action::Fault(Fault::Partition {
                a: self.group(step.a.as_ref()?)?,
                b: self.group(step.b.as_ref()?)?,
            }),
            "one-way" => Action::Fault(Fault::PartitionOneWay {
                from: self.group(step.from.as_ref()?)?,
                to: self.group(step.to.as_ref()?)?,
            }),
            "isolate-site" => Action::Fault(Fault::IsolateSite {
                site: self.site(step.site.as_ref()?),
            }),
            "bridge" => {
                let via = step.via.as_ref()?;
                if !self.hosts.contains_key(via.get_ref()) {
                    self.unknown_host(via.span(), via.get_ref(), &[]);
                    return None;
                }
                Action::Fault(Fault::Bridge {
                    a: self.group(step.a.as_ref()?)?,
                    b: self.group(step.b.as_ref()?)?,
                    bridge: via.get_ref().clone(),
                })
            }
            "heal" => Action::Fault(Fault::Heal),
            "loss" => {
                let p = step.probability.as_ref()?;
                if !(0.0..=1.0).contains(p.get_ref()) {
                    self.error(p.span(), "probability must be between 0 and 1");
                    return None;
                }
                Action::Fault(Fault::Loss {
                    a: self.group(step.a.as_ref()?)?,
                    b: self.group(step.b.as_ref()?)?,
                    probability: *p.get_ref(),
                })
            }
            "latency" => Action::Fault(Fault::Latency {
                a: self.group(step.a.as_ref()?)?,
                b: self.group(step.b.as_ref()?)?,
                extra: self.duration(step.extra.as_ref()?)?,
            }),
            "clear-link-faults" => Action::Fault(Fault::ClearLinkFaults),
            "crash" => Action::Fault(Fault::Crash {
                target: self.target(target?)?,
                hard: step.hard.as_ref().is_some_and(|h| *h.get_ref()),
            }),
            "start" => Action::Fault(Fault::Start {
                target: self.target(target?)?,
            }),
            "restart" => Action::Fault(Fault::Restart {
                target: self.target(target?)?,
            }),
            "wipe" => Action::Fault(Fault::Wipe {
                target: self.target(target?)?,
            }),
            "pause" => Action::Fault(Fault::Pause {
                target: self.target(target?)?,
            }),
            "resume" => Action::Fault(Fault::Resume {
                target: self.target(target?)?,
            }),
            "clock-offset" => Action::Fault(Fault::ClockOffset {
                target: self.target(target?)?,
                millis: self.signed_millis(step.by.as_ref()?)?,
            }),
            "clock-drift" => {
                let rate = step.rate.as_ref()?;
                if !(*rate.get_ref() > 0.0 && rate.get_ref().is_finite()) {
                    self.error(rate.span(), "rate must be more than 0 (1.0 = true speed)");
                    return None;
                }
                Action::Fault(Fault::ClockDrift {
                    target: self.target(target?)?,
                    rate: *rate.get_ref(),
                })
            }
            "clock-jump" => Action::Fault(Fault::ClockJump {
                target: self.target(target?)?,
                millis: self.signed_millis(step.by.as_ref()?)?,
                monotonic: step.monotonic.as_ref().is_some_and(|m| *m.get_ref()),
            }),
            "clock-strobe" => Action::Fault(Fault::ClockStrobe {
                target: self.target(target?)?,
                millis: self.signed_millis(step.by.as_ref()?)?,
                period: self.duration(step.every.as_ref()?)?,
                duration: self.duration(step.for_.as_ref()?)?,
            }),
            "clock-reset" => Action::Fault(Fault::ClockReset {
                target: self.target(target?)?,
            }),
            "relinquish" => Action::Relinquish {
                node: self.node(target?)?,
            },
            "rejoin" => Action::Rejoin {
                node: self.node(target?)?,
            },
            "set-priority" => Action::SetPriority {
                node: self.node(target?)?,
                priority: *step.priority.as_ref()?.get_ref(),
            },
            "break-health" | "heal-health" => {
                let node = self.node(target?)?;
                let link = self.word(
                    step.link.as_ref()?,
                    "health link",
                    &[("database", HealthLink::Database), ("bus", HealthLink::Bus)],
                )?;
                if action == "break-health" {
                    Action::BreakHealth { node, link }
                } else {
                    Action::HealHealth { node, link }
                }
            }
            other => unreachable!("action '{other}' is listed in ACTIONS"),
        })
    }

    /// `+30s`, `-2s` or `5s` as signed milliseconds.
    fn signed_millis(&mut self, value: &S<String>) -> Option<i64> {
        let text = value.get_ref().trim();
        let (sign, rest) = match text.strip_prefix('-') {
            Some(rest) => (-1, rest),
            None => (1, text.strip_prefix('+').unwrap_or(text)),
        };
        match parse_duration(rest) {
            Ok(d) => Some(sign * d.as_millis() as i64),
            Err(e) => {
                self.error(value.span(), e);
                None
            }
        }
    }

    fn target(&mut self, value: &S<String>) -> Option<Target> {
        let name = value.get_ref();
        if name == ZK_LEADER {
            return Some(Target::ZkLeader);
        }
        if self.hosts.contains_key(name) {
            Some(Target::Host(name.clone()))
        } else {
            self.unknown_host(value.span(), name, &[ZK_LEADER]);
            None
        }
    }

    fn node(&mut self, value: &S<String>) -> Option<String> {
        let name = value.get_ref();
        if self.node_pair.contains_key(name) {
            return Some(name.clone());
        }
        let nodes: Vec<&str> = self.node_pair.keys().map(String::as_str).collect();
        let hint = suggestion(name, &nodes);
        let kind = if self.hosts.contains_key(name) {
            "is not a node of a pair"
        } else {
            "is not a node"
        };
        self.error(value.span(), format!("'{name}' {kind}{hint}"));
        None
    }

    /// One site name means the whole site; otherwise a list of host names.
    fn group(&mut self, value: &S<Names>) -> Option<Group> {
        let names = &value.get_ref().0;
        if names.is_empty() {
            self.error(value.span(), "name a site or at least one host");
            return None;
        }
        if let [one] = names.as_slice()
            && self.sites.contains(one)
        {
            return Some(Group::Site(one.clone()));
        }
        let mut ok = true;
        for name in names {
            if self.sites.contains(name) {
                self.error(
                    value.span(),
                    format!("'{name}' is a site: name a site alone, or a list of hosts"),
                );
                ok = false;
            } else if !self.hosts.contains_key(name) {
                let sites: Vec<String> = self.sites.clone();
                let sites: Vec<&str> = sites.iter().map(String::as_str).collect();
                self.unknown_host(value.span(), name, &sites);
                ok = false;
            }
        }
        ok.then(|| Group::Hosts(names.clone()))
    }

    fn invariants(
        &mut self,
        table: Option<S<format::InvariantsTable>>,
        session_timeout: Duration,
    ) -> InvariantSettings {
        let _ = session_timeout;
        let mut settings = InvariantSettings {
            skip: BTreeSet::new(),
            no_master_bound: DEFAULT_NO_MASTER_BOUND,
            wrong_priority_bound: DEFAULT_WRONG_PRIORITY_BOUND,
        };
        let Some(table) = table else { return settings };
        let table = table.into_inner();
        for code in &table.skip {
            if let Some(invariant) = self.invariant(code) {
                settings.skip.insert(invariant);
            }
        }
        settings.no_master_bound =
            self.duration_or(&table.no_master_bound, DEFAULT_NO_MASTER_BOUND);
        settings.wrong_priority_bound =
            self.duration_or(&table.wrong_priority_bound, DEFAULT_WRONG_PRIORITY_BOUND);
        settings
    }

    fn invariant(&mut self, code: &S<String>) -> Option<Invariant> {
        let words: Vec<(&str, Invariant)> = Invariant::ALL.iter().map(|i| (i.code(), *i)).collect();
        self.word(code, "invariant", &words)
    }

    fn expectation(
        &mut self,
        table: S<format::ExpectTable>,
        invariants: &InvariantSettings,
    ) -> Option<Expectation> {
        let span = table.span();
        let e = table.into_inner();
        let kinds = [
            e.master.is_some(),
            e.no_master.is_some(),
            e.failover.is_some(),
            e.violation.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            self.error(
                span,
                "an expectation says exactly one of: master, no_master, failover, violation",
            );
            return None;
        }
        let needs = |v: &mut Self, key: &Option<S<String>>, name: &str, kind: &str| {
            if key.is_none() {
                v.error(span.clone(), format!("'{kind}' needs '{name}'"));
            }
        };
        if let Some(node) = &e.master {
            needs(self, &e.at, "at", "master");
            let node = self.node(node)?;
            let at = self.time(e.at.as_ref()?, "time")?;
            return Some(Expectation::MasterAt {
                pair: self.node_pair[&node].clone(),
                node,
                at,
            });
        }
        if let Some(pair) = &e.no_master {
            needs(self, &e.from, "from", "no_master");
            needs(self, &e.until, "until", "no_master");
            let pair = self.pair_name(pair)?;
            let from = self.time(e.from.as_ref()?, "time")?;
            let until_value = e.until.as_ref()?;
            let until = self.time(until_value, "time")?;
            if until < from {
                self.error(until_value.span(), "'until' is before 'from'");
                return None;
            }
            return Some(Expectation::NoMaster { pair, from, until });
        }
        if let Some(pair) = &e.failover {
            needs(self, &e.after, "after", "failover");
            needs(self, &e.within, "within", "failover");
            let pair = self.pair_name(pair)?;
            let after = self.time(e.after.as_ref()?, "time")?;
            let within = self.duration(e.within.as_ref()?)?;
            return Some(Expectation::FailoverWithin {
                pair,
                after,
                within,
            });
        }
        let code = e.violation.as_ref()?;
        let invariant = self.invariant(code)?;
        if invariants.skip.contains(&invariant) {
            self.error(
                code.span(),
                format!(
                    "{} is skipped in [invariants], so it cannot be expected",
                    code.get_ref()
                ),
            );
            return None;
        }
        for (key, value) in [
            ("at", &e.at),
            ("from", &e.from),
            ("until", &e.until),
            ("after", &e.after),
            ("within", &e.within),
        ] {
            if let Some(value) = value {
                self.error(
                    value.span(),
                    format!("'{key}' does not apply to 'violation'"),
                );
            }
        }
        Some(Expectation::Violation(invariant))
    }

    fn pair_name(&mut self, value: &S<String>) -> Option<String> {
        if self.pairs.contains(value.get_ref()) {
            return Some(value.get_ref().clone());
        }
        let pairs: Vec<&str> = self.pairs.iter().map(String::as_str).collect();
        let hint = suggestion(value.get_ref(), &pairs);
        self.error(
            value.span(),
            format!("unknown pair '{}'{hint}", value.get_ref()),
        );
        None
    }
}

/// The keys a step sets besides `at` and `do`, with their spans.
fn present_keys(step: &StepTable) -> Vec<(&'static str, Range<usize>)> {
    fn s<T>(key: &'static str, v: &Option<S<T>>) -> Option<(&'static str, Range<usize>)> {
        v.as_ref().map(|v| (key, v.span()))
    }
    [
        s("target", &step.target),
        s("a", &step.a),
        s("b", &step.b),
        s("from", &step.from),
        s("to", &step.to),
        s("site", &step.site),
        s("via", &step.via),
        s("probability", &step.probability),
        s("extra", &step.extra),
        s("hard", &step.hard),
        s("for", &step.for_),
        s("by", &step.by),
        s("rate", &step.rate),
        s("monotonic", &step.monotonic),
        s("every", &step.every),
        s("priority", &step.priority),
        s("link", &step.link),
    ]
    .into_iter()
    .flatten()
    .collect()
}
