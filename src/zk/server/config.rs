//! A server's configuration (zoo.cfg) and the quorum arithmetic over its voters.

use crate::sim::net::HostId;
use std::collections::BTreeSet;
use std::time::Duration;

/// What one simulated ZooKeeper server is configured with.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// This server's `myid`.
    pub id: u64,
    /// Voting members (`server.N=host:2888:3888`), this one included if it votes.
    pub voters: Vec<(u64, HostId)>,
    /// Observers (`server.N=host:2888:3888:observer`), this one included if it observes.
    pub observers: Vec<(u64, HostId)>,
    pub tick_time: Duration,
    /// Ticks a learner may take to connect to and sync with its leader.
    pub init_limit: u32,
    /// Ticks a learner may go unheard (and a leader without a quorum) before giving up.
    pub sync_limit: u32,
    /// Default 2 × tickTime.
    pub min_session_timeout: Option<Duration>,
    /// Default 20 × tickTime.
    pub max_session_timeout: Option<Duration>,
    /// How often the leader reaps empty containers (default 60 s).
    pub container_check_interval: Duration,
    /// FastLeaderElection's wait for a better vote once a quorum agrees (200 ms).
    pub finalize_wait: Duration,
}

impl ServerConfig {
    /// A configuration with the reference defaults for everything but the ensemble and limits.
    pub fn new(
        id: u64,
        voters: Vec<(u64, HostId)>,
        observers: Vec<(u64, HostId)>,
        tick_time: Duration,
        init_limit: u32,
        sync_limit: u32,
    ) -> Self {
        ServerConfig {
            id,
            voters,
            observers,
            tick_time,
            init_limit,
            sync_limit,
            min_session_timeout: None,
            max_session_timeout: None,
            container_check_interval: Duration::from_secs(60),
            finalize_wait: Duration::from_millis(200),
        }
    }

    pub fn min_session_timeout(&self) -> Duration {
        self.min_session_timeout.unwrap_or(self.tick_time * 2)
    }

    pub fn max_session_timeout(&self) -> Duration {
        self.max_session_timeout.unwrap_or(self.tick_time * 20)
    }

    /// Clamps a client's requested session timeout into [min, max] (ms).
    pub fn negotiate_timeout(&self, requested_ms: u32) -> u32 {
        let min = self.min_session_timeout().as_millis() as u32;
        let max = self.max_session_timeout().as_millis() as u32;
        requested_ms.clamp(min, max.max(min))
    }

    pub fn is_voter(&self, sid: u64) -> bool {
        self.voters.iter().any(|(s, _)| *s == sid)
    }

    pub fn is_observer(&self, sid: u64) -> bool {
        self.observers.iter().any(|(s, _)| *s == sid)
    }

    pub fn host_of(&self, sid: u64) -> Option<HostId> {
        self.voters
            .iter()
            .chain(&self.observers)
            .find(|(s, _)| *s == sid)
            .map(|(_, h)| *h)
    }

    pub fn sid_of(&self, host: HostId) -> Option<u64> {
        self.voters
            .iter()
            .chain(&self.observers)
            .find(|(_, h)| *h == host)
            .map(|(s, _)| *s)
    }

    pub fn quorum(&self) -> Quorum {
        Quorum {
            voters: self.voters.iter().map(|(s, _)| *s).collect(),
        }
    }

    /// The membership as ZooKeeper writes it into `/zookeeper/config` (`QuorumMaj.toString`
    /// of a static configuration, version 0), with each host's name as its address.
    pub fn dynamic_config_text(&self, host_name: impl Fn(HostId) -> String) -> String {
        let mut members: Vec<(u64, HostId, &str)> = self
            .voters
            .iter()
            .map(|(s, h)| (*s, *h, "participant"))
            .chain(self.observers.iter().map(|(s, h)| (*s, *h, "observer")))
            .collect();
        members.sort();
        let mut text = String::new();
        for (sid, host, kind) in members {
            text.push_str(&format!(
                "server.{sid}={}:2888:3888:{kind};0.0.0.0:2181\n",
                host_name(host)
            ));
        }
        text.push_str("version=0");
        text
    }

    /// Checks the configuration makes sense before the server runs it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.voters.is_empty() {
            return Err(ConfigError::NoVoters);
        }
        if !self.is_voter(self.id) && !self.is_observer(self.id) {
            return Err(ConfigError::NotAMember(self.id));
        }
        let mut seen = BTreeSet::new();
        for (sid, _) in self.voters.iter().chain(&self.observers) {
            if !seen.insert(*sid) {
                return Err(ConfigError::DuplicateId(*sid));
            }
        }
        if self.tick_time.is_zero() || self.init_limit == 0 || self.sync_limit == 0 {
            return Err(ConfigError::ZeroTiming);
        }
        if self.min_session_timeout() > self.max_session_timeout() {
            return Err(ConfigError::SessionBounds);
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the ensemble has no voting member")]
    NoVoters,
    #[error("server id {0} is neither a voter nor an observer of the ensemble")]
    NotAMember(u64),
    #[error("server id {0} appears twice")]
    DuplicateId(u64),
    #[error("tickTime, initLimit and syncLimit must be positive")]
    ZeroTiming,
    #[error("minSessionTimeout is larger than maxSessionTimeout")]
    SessionBounds,
}

/// Majority quorums over the voting members (`QuorumMaj`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quorum {
    voters: BTreeSet<u64>,
}

impl Quorum {
    pub fn is_voter(&self, sid: u64) -> bool {
        self.voters.contains(&sid)
    }

    pub fn voters(&self) -> impl Iterator<Item = u64> + '_ {
        self.voters.iter().copied()
    }

    /// Whether the voters among `sids` form a majority.
    pub fn contains_quorum<I: IntoIterator<Item = u64>>(&self, sids: I) -> bool {
        let count = sids.into_iter().filter(|s| self.voters.contains(s)).count();
        count > self.voters.len() / 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ServerConfig {
        ServerConfig::new(
            1,
            vec![(1, HostId(0)), (2, HostId(1)), (3, HostId(2))],
            vec![(4, HostId(3))],
            Duration::from_millis(2000),
            10,
            5,
        )
    }

    #[test]
    fn timeouts_are_clamped_to_two_and_twenty_ticks() {
        let c = cfg();
        assert_eq!(c.negotiate_timeout(1000), 4000);
        assert_eq!(c.negotiate_timeout(6000), 6000);
        assert_eq!(c.negotiate_timeout(100_000), 40_000);
    }

    #[test]
    fn majority_counts_voters_only() {
        let q = cfg().quorum();
        assert!(!q.contains_quorum([1]));
        assert!(!q.contains_quorum([1, 4]));
        assert!(q.contains_quorum([1, 3]));
    }

    #[test]
    fn validation_rejects_strangers_and_duplicates() {
        assert_eq!(cfg().validate(), Ok(()));
        let mut c = cfg();
        c.id = 9;
        assert_eq!(c.validate(), Err(ConfigError::NotAMember(9)));
        let mut c = cfg();
        c.observers.push((2, HostId(5)));
        assert_eq!(c.validate(), Err(ConfigError::DuplicateId(2)));
    }
}
