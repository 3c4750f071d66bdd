//! The state of every directed link between two hosts of a live world: the sites' latency
//! (base and jitter, as the simulator's `NetConfig` has it), and the faults on it (cut, loss,
//! extra latency), with the same meaning as the simulated network's faults
//! (`sim::world::faults`). The runner pushes the resulting state to the relays that carry the
//! link's traffic.

use crate::live::net::LinkState;
use crate::sim::fault::Group;
use crate::sim::net::NetConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

type Link = (String, String);

/// The links' faults, by host name.
#[derive(Clone, Debug)]
pub struct LinkModel {
    /// Host → site, for every host of the world.
    sites: BTreeMap<String, String>,
    config: NetConfig,
    cut: BTreeSet<Link>,
    loss: BTreeMap<Link, f64>,
    extra: BTreeMap<Link, Duration>,
}

impl LinkModel {
    pub fn new(sites: BTreeMap<String, String>, config: NetConfig) -> LinkModel {
        LinkModel {
            sites,
            config,
            cut: BTreeSet::new(),
            loss: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.sites.keys().map(String::as_str)
    }

    /// The hosts a group names (a site's hosts, or the names given, checked).
    pub fn group(&self, group: &Group) -> Result<Vec<String>, String> {
        match group {
            Group::Hosts(names) => {
                for name in names {
                    if !self.sites.contains_key(name) {
                        return Err(format!("no host named '{name}'"));
                    }
                }
                Ok(names.clone())
            }
            Group::Site(site) => {
                let hosts: Vec<String> = self
                    .sites
                    .iter()
                    .filter(|(_, s)| *s == site)
                    .map(|(h, _)| h.clone())
                    .collect();
                if hosts.is_empty() {
                    Err(format!("no host in site '{site}'"))
                } else {
                    Ok(hosts)
                }
            }
        }
    }

    /// The hosts of `site`, and the others.
    pub fn split_site(&self, site: &str) -> Result<(Vec<String>, Vec<String>), String> {
        let inside = self.group(&Group::Site(site.to_string()))?;
        let outside = self
            .sites
            .keys()
            .filter(|h| !inside.contains(h))
            .cloned()
            .collect();
        Ok((inside, outside))
    }

    /// Cuts every link between a host of `a` and a host of `b`, both ways.
    pub fn partition(&mut self, a: &[String], b: &[String]) {
        for x in a {
            for y in b {
                if x != y {
                    self.cut.insert((x.clone(), y.clone()));
                    self.cut.insert((y.clone(), x.clone()));
                }
            }
        }
    }

    pub fn partition_oneway(&mut self, from: &[String], to: &[String]) {
        for x in from {
            for y in to {
                if x != y {
                    self.cut.insert((x.clone(), y.clone()));
                }
            }
        }
    }

    /// Two halves that cannot talk, joined by `bridge` (which talks to both).
    pub fn bridge(&mut self, a: &[String], b: &[String], bridge: &str) {
        let keep = |side: &[String]| -> Vec<String> {
            side.iter().filter(|h| *h != bridge).cloned().collect()
        };
        self.partition(&keep(a), &keep(b));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn set_loss(&mut self, a: &[String], b: &[String], probability: f64) {
        for x in a {
            for y in b {
                self.loss.insert((x.clone(), y.clone()), probability);
                self.loss.insert((y.clone(), x.clone()), probability);
            }
        }
    }

    pub fn set_extra_latency(&mut self, a: &[String], b: &[String], extra: Duration) {
        for x in a {
            for y in b {
                self.extra.insert((x.clone(), y.clone()), extra);
                self.extra.insert((y.clone(), x.clone()), extra);
            }
        }
    }

    pub fn clear_link_faults(&mut self) {
        self.loss.clear();
        self.extra.clear();
    }

    /// The configured latency of the link, without faults.
    pub fn base(&self, from: &str, to: &str) -> LinkState {
        let latency = match (self.sites.get(from), self.sites.get(to)) {
            (Some(a), Some(b)) if from != to => self.config.site_latency(a, b),
            _ => self.config.same_host,
        };
        LinkState {
            delay: latency.base,
            jitter: latency.jitter,
            ..LinkState::default()
        }
    }

    /// The link's state now.
    pub fn state(&self, from: &str, to: &str) -> LinkState {
        let key = (from.to_string(), to.to_string());
        let mut state = self.base(from, to);
        state.cut = self.cut.contains(&key);
        state.loss = self.loss.get(&key).copied().unwrap_or(0.0);
        state.delay += self.extra.get(&key).copied().unwrap_or_default();
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> LinkModel {
        let sites = [("zk1", "dc1"), ("a1", "dc1"), ("zk2", "dc2"), ("zk3", "tb")]
            .iter()
            .map(|(h, s)| (h.to_string(), s.to_string()))
            .collect();
        LinkModel::new(sites, NetConfig::default())
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn faults_mean_what_they_mean_in_the_simulator() {
        let mut links = model();
        let config = NetConfig::default();
        assert_eq!(links.state("a1", "zk1").delay, config.same_site.base);
        assert_eq!(links.state("a1", "zk2").delay, config.cross_site.base);
        links.partition_oneway(&names(&["a1"]), &names(&["zk1", "zk2"]));
        assert!(links.state("a1", "zk2").cut);
        assert!(!links.state("zk2", "a1").cut);
        let (inside, outside) = links.split_site("dc1").unwrap();
        assert_eq!(inside, names(&["a1", "zk1"]));
        links.heal();
        links.bridge(&inside, &outside, "zk1");
        assert!(links.state("a1", "zk3").cut && links.state("zk3", "a1").cut);
        assert!(
            !links.state("zk1", "zk3").cut,
            "the bridge talks to both sides"
        );
        links.set_extra_latency(&names(&["a1"]), &names(&["zk2"]), Duration::from_secs(1));
        links.set_loss(&names(&["a1"]), &names(&["zk2"]), 0.5);
        assert_eq!(
            links.state("zk2", "a1").delay,
            config.cross_site.base + Duration::from_secs(1)
        );
        assert_eq!(links.state("zk2", "a1").loss, 0.5);
        links.clear_link_faults();
        links.heal();
        assert_eq!(links.state("zk2", "a1"), links.base("zk2", "a1"));
        assert!(links.group(&Group::Site("nowhere".into())).is_err());
        assert!(links.group(&Group::Hosts(names(&["zk9"]))).is_err());
    }
}
