//! The timeline's steps: which keys each action takes, and how a step becomes an [`Action`]
//! with its names resolved (hosts, sites, groups, nodes).

use super::error::suggestion;
use super::format::{Names, S, StepTable};
use super::validate::Validator;
use super::{Action, HealthLink, Step};
use crate::duration::parse_duration;
use crate::sim::fault::{Fault, Group, Target, ZK_FOLLOWER, ZK_LEADER};
use std::ops::Range;

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
    ("delete-election", &["pair"], &[]),
];

impl Validator {
    pub(super) fn step(&mut self, table: S<StepTable>, steps: &mut Vec<Step>) {
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

    pub(super) fn action(&mut self, action: &str, step: &StepTable) -> Option<Action> {
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
            "delete-election" => Action::DeleteElection {
                pair: self.pair_name(step.pair.as_ref()?)?,
            },
            other => unreachable!("action '{other}' is listed in ACTIONS"),
        })
    }

    /// `+30s`, `-2s` or `5s` as signed milliseconds.
    pub(super) fn signed_millis(&mut self, value: &S<String>) -> Option<i64> {
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

    pub(super) fn target(&mut self, value: &S<String>) -> Option<Target> {
        let name = value.get_ref();
        if let Some(role) = Target::role_named(name) {
            return Some(role);
        }
        if self.hosts.contains_key(name) {
            Some(Target::Host(name.clone()))
        } else {
            self.unknown_host(value.span(), name, &[ZK_LEADER, ZK_FOLLOWER]);
            None
        }
    }

    pub(super) fn node(&mut self, value: &S<String>) -> Option<String> {
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

    /// One site name means the whole site; otherwise a list of host names, where `zk-leader`
    /// and `zk-follower` stand for the server holding that role when the step runs.
    pub(super) fn group(&mut self, value: &S<Names>) -> Option<Group> {
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
            } else if !self.hosts.contains_key(name) && Target::role_named(name).is_none() {
                let mut known: Vec<String> = self.sites.clone();
                known.extend([ZK_LEADER.to_string(), ZK_FOLLOWER.to_string()]);
                let known: Vec<&str> = known.iter().map(String::as_str).collect();
                self.unknown_host(value.span(), name, &known);
                ok = false;
            }
        }
        ok.then(|| Group::Hosts(names.clone()))
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
        s("pair", &step.pair),
    ]
    .into_iter()
    .flatten()
    .collect()
}
