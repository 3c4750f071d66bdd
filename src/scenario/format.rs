//! The scenario file as written: TOML tables deserialised with their positions, so every
//! later complaint can point at the line and column QA wrote. Nothing here judges meaning;
//! [`super::validate`] turns these structs into a [`super::Scenario`].

use serde::Deserialize;
use toml::Spanned;

pub type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub run: Option<S<RunTable>>,
    pub sites: S<Vec<S<String>>>,
    pub zookeeper: S<ZooKeeperTable>,
    #[serde(default)]
    pub pair: Vec<S<PairTable>>,
    #[serde(default)]
    pub latency: Vec<S<LatencyTable>>,
    #[serde(default)]
    pub step: Vec<S<StepTable>>,
    #[serde(default)]
    pub expect: Vec<S<ExpectTable>>,
    pub invariants: Option<S<InvariantsTable>>,
    /// Node programs the file declares (the node protocol), by name.
    pub programs: Option<S<std::collections::BTreeMap<String, S<ProgramEntry>>>>,
}

/// `name = { command = ["python3", "adapters/mine.py"] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramEntry {
    pub command: S<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTable {
    /// End of the fault phase.
    pub duration: Option<S<String>>,
    /// Length of the liveness phase that follows (everything healed).
    pub liveness: Option<S<String>>,
    pub seed: Option<S<u64>>,
    /// `real` (default) or a known-bug variant `p1` … `p8`, `n1` … `n4`, `f1` (shrunk chaos
    /// findings name theirs).
    pub election: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooKeeperTable {
    pub tick_time: Option<S<String>>,
    pub init_limit: Option<S<u32>>,
    pub sync_limit: Option<S<u32>>,
    pub session_timeout: Option<S<String>>,
    /// How long a client waits for its first session (Curator's `connectionTimeoutMs`).
    pub connection_timeout: Option<S<String>>,
    pub client_model: Option<S<String>>,
    pub voters: S<Vec<S<ServerEntry>>>,
    #[serde(default)]
    pub observers: Vec<S<ServerEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    pub name: S<String>,
    pub site: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairTable {
    pub name: S<String>,
    /// Stamps out this many pairs; every name then carries `{i}` (1, 2, ...).
    pub count: Option<S<u32>>,
    pub nodes: S<Vec<S<NodeEntry>>>,
    pub database: S<DatabaseEntry>,
    pub write_period: Option<S<String>>,
    pub health_period: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub name: S<String>,
    pub site: S<String>,
    pub priority: S<u32>,
    pub policy: S<String>,
    /// The node program (default: the built-in selector).
    pub program: Option<S<String>>,
    /// This node's own session timeout (default: the ensemble's).
    pub session_timeout: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseEntry {
    pub name: S<String>,
    pub site: S<String>,
    pub mode: Option<S<String>>,
    pub replica_site: Option<S<String>>,
    pub write_latency: Option<S<String>>,
    pub run_once: Option<S<RunOnceEntry>>,
    /// `synchronous` (default) or `asynchronous` (primary-replica only).
    pub replication: Option<S<String>>,
    /// How late an asynchronous replica receives a commit.
    pub replication_lag: Option<S<String>>,
    /// `false`: the database checks no fencing token.
    pub fence: Option<S<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOnceEntry {
    pub update_interval: S<String>,
    pub wait_interval: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyTable {
    pub between: S<Vec<S<String>>>,
    pub base: S<String>,
    pub jitter: Option<S<String>>,
}

/// One step of the timeline. Which keys apply depends on `do`; the validator says which.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepTable {
    pub at: S<String>,
    #[serde(rename = "do")]
    pub action: S<String>,
    pub target: Option<S<String>>,
    pub a: Option<S<Names>>,
    pub b: Option<S<Names>>,
    pub from: Option<S<Names>>,
    pub to: Option<S<Names>>,
    pub site: Option<S<String>>,
    pub via: Option<S<String>>,
    pub probability: Option<S<f64>>,
    pub extra: Option<S<String>>,
    pub hard: Option<S<bool>>,
    #[serde(rename = "for")]
    pub for_: Option<S<String>>,
    pub by: Option<S<String>>,
    pub rate: Option<S<f64>>,
    pub monotonic: Option<S<bool>>,
    pub every: Option<S<String>>,
    pub priority: Option<S<u32>>,
    pub link: Option<S<String>>,
    pub pair: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectTable {
    pub master: Option<S<String>>,
    pub at: Option<S<String>>,
    pub no_master: Option<S<String>>,
    pub from: Option<S<String>>,
    pub until: Option<S<String>>,
    pub failover: Option<S<String>>,
    pub after: Option<S<String>>,
    pub within: Option<S<String>>,
    pub violation: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvariantsTable {
    #[serde(default)]
    pub skip: Vec<S<String>>,
    pub no_master_bound: Option<S<String>>,
    pub wrong_priority_bound: Option<S<String>>,
}

/// A host or site name, or a list of them: `a = "dc1"` or `a = ["zk1", "a1"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Names(pub Vec<String>);

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NamesVisitor;
        impl<'de> serde::de::Visitor<'de> for NamesVisitor {
            type Value = Names;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a site or host name, or a list of host names")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Names, E> {
                Ok(Names(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Names, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(Names(names))
            }
        }
        deserializer.deserialize_any(NamesVisitor)
    }
}
