//! Expectations and invariant settings: what a scenario says must (or must not) be seen.

use super::error::suggestion;
use super::format::{self, S};
use super::validate::{DEFAULT_NO_MASTER_BOUND, DEFAULT_WRONG_PRIORITY_BOUND, Validator};
use super::{Expectation, InvariantSettings};
use crate::check::Invariant;
use std::collections::BTreeSet;

impl Validator {
    pub(super) fn invariants(
        &mut self,
        table: Option<S<format::InvariantsTable>>,
    ) -> InvariantSettings {
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

    pub(super) fn invariant(&mut self, code: &S<String>) -> Option<Invariant> {
        let words: Vec<(&str, Invariant)> = Invariant::ALL.iter().map(|i| (i.code(), *i)).collect();
        self.word(code, "invariant", &words)
    }

    pub(super) fn expectation(
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

    pub(super) fn pair_name(&mut self, value: &S<String>) -> Option<String> {
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
