//! `zk-leader` and `zk-follower` in a step's groups resolve, when the step runs, to the server
//! holding that role then: after the first leader crashed, "zk-leader" names its successor.

use splitbrain::scenario::{parse, runner};
use splitbrain::sim::history::Record;
use std::collections::BTreeMap;

const SCENARIO: &str = r#"
sites = ["dc1", "dc2", "tiebreaker"]

[zookeeper]
voters = [
  { name = "zk1", site = "dc1" },
  { name = "zk2", site = "dc2" },
  { name = "zk3", site = "tiebreaker" },
]

[[pair]]
name = "bank"
nodes = [
  { name = "a1", site = "dc1", priority = 100, policy = "pre-emptive" },
  { name = "a2", site = "dc2", priority = 50, policy = "pre-emptive" },
]
database = { name = "db", site = "tiebreaker" }

[run]
duration = "90s"

[[step]]
at = "20s"
do = "crash"
target = "zk-leader"

[[step]]
at = "50s"
do = "one-way"
from = "zk-leader"
to = ["zk-follower", "a1"]

[[step]]
at = "70s"
do = "heal"

[[step]]
at = "75s"
do = "start"
target = "zk-leader"
"#;

#[test]
fn role_names_in_groups_resolve_to_the_servers_holding_the_roles_then() {
    let scenario =
        parse("role-targets", "role-targets.toml", SCENARIO).unwrap_or_else(|e| panic!("{e:?}"));
    let report = runner::run(&scenario, 7, false).expect("the run completes");

    // Replay the roles the history announces, and read what the one-way step resolved to.
    let mut roles: BTreeMap<String, String> = BTreeMap::new();
    let mut crashed_leader = None;
    let mut resolved = None;
    for entry in &report.history {
        match &entry.record {
            Record::Role { host, role } => {
                roles.insert(host.to_string(), role.clone());
            }
            Record::HostCrashed { host } => {
                // The crash is recorded before the step that caused it.
                let role = roles.remove(host.as_ref());
                if role.as_deref() == Some("leading") {
                    crashed_leader = Some(host.to_string());
                }
            }
            Record::Fault { description } if description.starts_with("one-way") => {
                resolved = Some((description.clone(), roles.clone()));
            }
            _ => {}
        }
    }
    let crashed_leader = crashed_leader.expect("a server led when the crash step ran");
    let (description, roles) = resolved.expect("the one-way step ran");
    let holder = |role: &str| -> Vec<&String> {
        roles
            .iter()
            .filter(|(_, r)| r.as_str() == role)
            .map(|(h, _)| h)
            .collect()
    };
    let leader = holder("leading");
    let followers = holder("following");
    assert_eq!(leader.len(), 1, "one leader at 50 s: {roles:?}");
    assert_ne!(
        leader[0], &crashed_leader,
        "the crashed leader's successor leads"
    );
    assert!(
        description.contains(&format!("zk-leader = {}", leader[0])),
        "{description} names the leader {}",
        leader[0]
    );
    assert!(
        description.contains(&format!("zk-follower = {}", followers[0])),
        "{description} names the first follower {}",
        followers[0]
    );
    assert!(report.violations.is_empty(), "{:?}", report.violations);
}
