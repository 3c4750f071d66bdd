//! `splitbrain audit`: chaos on exactly one team's deployment, and for each failure the
//! configuration choice that let it happen.
//!
//! The deployment is a scenario file's world (its steps are not used: the audit draws its own
//! fault schedules over the full vocabulary, as a chaos night does, but always on this world).
//! A failure is shrunk as chaos shrinks one; then its shrunk scenario is re-run, same seed,
//! with each unsafe choice of the deployment ([`crate::sim::deployment`]) made safe in turn. A
//! choice whose safe value makes the failure go away is what let it happen. When no single
//! choice does, the audit tries them all made safe at once; when even that fails the same way,
//! the failure is the election code's or the world's, not the configuration's, and the report
//! says so rather than blame a choice.

use super::campaign::{Campaign, Found};
use super::explore::{Finding, run_and_judge};
use crate::check::Invariant;
use crate::scenario::Scenario;
use crate::sim::deployment::{UnsafeChoice, unsafe_choices};
use crate::sim::topology::Topology;

/// Why a failure happened, as far as re-running it without each unsafe choice tells.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// Making any one of these choices safe (each alone) prevents the failure.
    Choices { choices: Vec<NamedChoice> },
    /// No single choice made safe prevents it, but all of them together do.
    Combination { choices: Vec<NamedChoice> },
    /// The failure happens with every unsafe choice made safe (or the deployment has none): it
    /// is not the configuration's doing.
    NotTheConfiguration,
}

/// A choice as reports name it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NamedChoice {
    pub name: String,
    pub sentence: String,
}

impl From<&UnsafeChoice> for NamedChoice {
    fn from(choice: &UnsafeChoice) -> Self {
        NamedChoice {
            name: choice.name.clone(),
            sentence: choice.sentence.clone(),
        }
    }
}

impl Cause {
    /// One sentence for a report.
    pub fn sentence(&self) -> String {
        match self {
            Cause::Choices { choices } if choices.len() == 1 => {
                format!("let happen by: {}", choices[0].sentence)
            }
            Cause::Choices { choices } => format!(
                "let happen by any of these (making one safe prevents it): {}",
                sentences(choices)
            ),
            Cause::Combination { choices } => format!(
                "let happen by these together (no one of them made safe alone prevents it): {}",
                sentences(choices)
            ),
            Cause::NotTheConfiguration => "not the configuration: it also happens with every \
                 unsafe choice made safe, so it is a failure of the election code or of the \
                 world itself; please report it with the scenario file"
                .to_string(),
        }
    }
}

fn sentences(choices: &[NamedChoice]) -> String {
    choices
        .iter()
        .map(|c| format!("{} ({})", c.sentence, c.name))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Finds what let `finding` happen on `deployment`: re-runs its shrunk scenario with each
/// unsafe choice made safe, then with all of them. Costs one run per choice, plus one.
pub fn attribute(finding: &Finding, choices: &[UnsafeChoice]) -> Cause {
    let still_fails = |topology: Topology| {
        let scenario = Scenario {
            topology,
            ..finding.shrunk.clone()
        };
        let (_, verdict) = run_and_judge(&scenario);
        verdict.is_some_and(|v| v.invariant == finding.invariant)
    };
    let alone: Vec<NamedChoice> = choices
        .iter()
        .filter(|choice| !still_fails(choice.make_safe(&finding.shrunk.topology)))
        .map(NamedChoice::from)
        .collect();
    if !alone.is_empty() {
        return Cause::Choices { choices: alone };
    }
    if choices.len() > 1 {
        let all_safe = choices
            .iter()
            .fold(finding.shrunk.topology.clone(), |t, c| c.make_safe(&t));
        if !still_fails(all_safe) {
            return Cause::Combination {
                choices: choices.iter().map(NamedChoice::from).collect(),
            };
        }
    }
    Cause::NotTheConfiguration
}

/// One failing seed of an audit.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AuditFailure {
    pub seed: u64,
    /// `2M`, `SW`, …, or `panic`, `hang`, `step`, `build`.
    pub invariant: String,
    pub detail: String,
    /// The shrunk scenario file in the report directory (none for a crashed exploration).
    pub scenario: Option<String>,
    pub cause: Cause,
}

/// Whether the deployment held one invariant over the audit's seeds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct InvariantVerdict {
    pub invariant: String,
    pub held: bool,
    /// Seeds that broke it.
    pub seeds_failed: u64,
    pub first_seed: Option<u64>,
}

/// What an audit found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Audit {
    pub deployment: String,
    pub seeds_run: u64,
    /// Every unsafe choice the deployment makes (what failures are attributed to).
    pub unsafe_choices: Vec<NamedChoice>,
    pub invariants: Vec<InvariantVerdict>,
    pub failures: Vec<AuditFailure>,
    /// The deployment held every invariant and nothing else failed.
    pub held: bool,
}

impl Audit {
    /// Judges a finished campaign on `deployment`; `scenario_file(seed, invariant)` names the
    /// shrunk scenario file a finding was written to.
    pub fn judge(
        deployment: &str,
        topology: &Topology,
        campaign: &Campaign,
        scenario_file: impl Fn(u64, &str) -> String,
    ) -> Audit {
        let choices = unsafe_choices(topology);
        let failures: Vec<AuditFailure> = campaign
            .findings()
            .map(|(result, found)| match found {
                Found::Finding(f) => AuditFailure {
                    seed: result.seed,
                    invariant: f.invariant.clone(),
                    detail: f.detail.clone(),
                    scenario: Some(scenario_file(result.seed, &f.invariant)),
                    cause: attribute(f, &choices),
                },
                Found::Crash(_) => AuditFailure {
                    seed: result.seed,
                    invariant: found.invariant().to_string(),
                    detail: found.detail().to_string(),
                    scenario: None,
                    cause: Cause::NotTheConfiguration,
                },
            })
            .collect();
        let invariants = Invariant::ALL
            .iter()
            .map(|i| {
                let failed: Vec<u64> = failures
                    .iter()
                    .filter(|f| f.invariant == i.code())
                    .map(|f| f.seed)
                    .collect();
                InvariantVerdict {
                    invariant: i.code().to_string(),
                    held: failed.is_empty(),
                    seeds_failed: failed.len() as u64,
                    first_seed: failed.first().copied(),
                }
            })
            .collect();
        Audit {
            deployment: deployment.to_string(),
            seeds_run: campaign.seeds_run(),
            unsafe_choices: choices.iter().map(NamedChoice::from).collect(),
            invariants,
            held: failures.is_empty(),
            failures,
        }
    }

    /// The verdict as Markdown: per invariant whether it held, then each failure with its
    /// scenario file and cause.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# Audit of {}\n\n{} over {} seed(s) of generated faults.\n\n",
            self.deployment,
            if self.held {
                "The deployment **held**"
            } else {
                "The deployment **did not hold**"
            },
            self.seeds_run
        );
        if self.unsafe_choices.is_empty() {
            out.push_str("It makes none of the configuration choices known to be unsafe.\n\n");
        } else {
            out.push_str("Unsafe configuration choices it makes:\n\n");
            for c in &self.unsafe_choices {
                out.push_str(&format!("- `{}`: {}\n", c.name, c.sentence));
            }
            out.push('\n');
        }
        out.push_str(
            "| invariant | held | seeds that broke it | first seed |\n|---|---|---|---|\n",
        );
        for v in &self.invariants {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                v.invariant,
                if v.held { "yes" } else { "**no**" },
                v.seeds_failed,
                v.first_seed.map_or("-".to_string(), |s| s.to_string())
            ));
        }
        if !self.failures.is_empty() {
            out.push_str("\n## Failures\n\n");
            for f in &self.failures {
                out.push_str(&format!(
                    "- seed {} **{}**{}: {}\n  - {}\n",
                    f.seed,
                    f.invariant,
                    f.scenario
                        .as_ref()
                        .map_or(String::new(), |s| format!(" (`{s}`)")),
                    f.detail,
                    f.cause.sentence()
                ));
            }
        }
        out
    }
}
