//! Selector settings, their validation, and the znode layout of one pair.

use super::role::{Policy, Priority};
use crate::zk::types::{Acl, perms};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::time::Duration;

/// How a selector takes part in the election of one pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SelectorConfig {
    /// Absolute path under which every pair's election lives, e.g. `/splitbrain/election`.
    pub root: String,
    /// The pair (the logical service both nodes of a hot/cold pair provide).
    pub pair: String,
    /// This candidate's name: stable across restarts (it breaks priority ties), unique within
    /// the pair. A candidacy of the same name held by another session (an earlier incarnation
    /// not yet expired, or a misconfigured twin) is waited out, never taken over.
    pub candidate: String,
    pub priority: Priority,
    pub policy: Policy,
    /// Digest credentials of the pair. `None` leaves the pair's znodes open to every client,
    /// which is only acceptable on a private development ensemble.
    pub credentials: Option<DigestCredentials>,
    /// First delay before retrying after an unexpected error; doubles up to `max_retry_delay`.
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// Re-read the election this often even without a watch event, as a safety net against a
    /// lost notification. `None` relies on watches alone.
    pub recheck_interval: Option<Duration>,
    /// A deliberately broken variant of the election (testbed builds only; see
    /// [`super::known_bugs`]).
    #[cfg(feature = "testbed")]
    known_bug: Option<super::KnownBug>,
}

impl SelectorConfig {
    /// A configuration with the default retry and recheck settings.
    pub fn new(
        root: &str,
        pair: &str,
        candidate: &str,
        priority: Priority,
        policy: Policy,
    ) -> Self {
        SelectorConfig {
            root: root.to_string(),
            pair: pair.to_string(),
            candidate: candidate.to_string(),
            priority,
            policy,
            credentials: None,
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(5),
            recheck_interval: Some(Duration::from_secs(60)),
            #[cfg(feature = "testbed")]
            known_bug: None,
        }
    }

    /// Runs a deliberately broken variant of the election instead of the real one, so the
    /// testbed can show it catches that bug. Testbed builds only.
    #[cfg(feature = "testbed")]
    pub fn with_known_bug(mut self, bug: super::KnownBug) -> Self {
        self.known_bug = Some(bug);
        self
    }

    /// The broken variant this selector runs, if any; always `None` in production builds, so
    /// the compiler drops every broken branch.
    pub fn known_bug(&self) -> Option<super::KnownBug> {
        #[cfg(feature = "testbed")]
        return self.known_bug;
        #[cfg(not(feature = "testbed"))]
        None
    }

    pub fn with_credentials(mut self, credentials: DigestCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let root_ok = self.root.starts_with('/')
            && self.root.len() > 1
            && !self.root.ends_with('/')
            && self.root[1..].split('/').all(is_valid_name);
        if !root_ok {
            return Err(ConfigError::InvalidRoot(self.root.clone()));
        }
        if !is_valid_name(&self.pair) {
            return Err(ConfigError::InvalidName(self.pair.clone()));
        }
        if !is_valid_name(&self.candidate) {
            return Err(ConfigError::InvalidName(self.candidate.clone()));
        }
        if let Some(c) = &self.credentials
            && (c.user.is_empty() || c.user.contains(':'))
        {
            return Err(ConfigError::InvalidCredentials);
        }
        if self.retry_delay.is_zero() || self.max_retry_delay < self.retry_delay {
            return Err(ConfigError::InvalidRetryDelay);
        }
        if self.recheck_interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::InvalidRecheckInterval);
        }
        Ok(())
    }
}

/// A configuration the selector refuses to run with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("election root {0:?} must be an absolute znode path of valid names")]
    InvalidRoot(String),
    #[error("{0:?} is not a valid name: use 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'")]
    InvalidName(String),
    #[error("digest user must be non-empty and must not contain ':'")]
    InvalidCredentials,
    #[error("retry delay must be positive and not above the maximum retry delay")]
    InvalidRetryDelay,
    #[error("recheck interval must be positive")]
    InvalidRecheckInterval,
}

/// Names become znode path components, so they are kept to a safe alphabet.
fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Credentials of ZooKeeper's `digest` scheme, one pair per identity, so that one pair's
/// nodes cannot touch another pair's election.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl DigestCredentials {
    pub fn new(user: &str, password: &str) -> Self {
        DigestCredentials {
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// What `addAuth("digest", ...)` sends.
    pub fn auth_bytes(&self) -> Vec<u8> {
        format!("{}:{}", self.user, self.password).into_bytes()
    }

    /// The ACL id ZooKeeper derives from these credentials: `user:base64(sha1(user:password))`.
    pub fn digest_id(&self) -> String {
        let hash = Sha1::digest(self.auth_bytes());
        format!(
            "{}:{}",
            self.user,
            base64::engine::general_purpose::STANDARD.encode(hash)
        )
    }
}

/// Where one pair's election lives:
///
/// ```text
/// <root>                      persistent, world may read and create children (shared by all pairs)
/// <root>/<pair>               persistent, pair ACL
/// <root>/<pair>/term          persistent, pair ACL: who holds mastership (TermRecord)
/// <root>/<pair>/candidates    persistent, pair ACL
///     <name>-p<priority>      ephemeral, pair ACL: one per candidate (CandidateRecord)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: String,
    pair_path: String,
    // Kept, not formatted per call: the master names the term node in every lease renewal.
    term_path: String,
    candidates_path: String,
    pair_acl: Vec<Acl>,
}

impl Layout {
    pub fn new(config: &SelectorConfig) -> Self {
        let pair_acl = match &config.credentials {
            Some(c) => vec![Acl {
                perms: perms::ALL,
                scheme: "digest".into(),
                id: c.digest_id(),
            }],
            None => Acl::open_unsafe(),
        };
        let pair_path = format!("{}/{}", config.root, config.pair);
        Layout {
            root: config.root.clone(),
            term_path: format!("{pair_path}/term"),
            candidates_path: format!("{pair_path}/candidates"),
            pair_path,
            pair_acl,
        }
    }

    /// The root and each of its ancestors, outermost first.
    pub fn root_components(&self) -> Vec<String> {
        let mut paths = Vec::new();
        let mut path = String::new();
        for part in self.root[1..].split('/') {
            path.push('/');
            path.push_str(part);
            paths.push(path.clone());
        }
        paths
    }

    /// Shared by every pair: anyone may list it and add a pair, nobody but an admin may delete
    /// or change it (no DELETE permission means a pair's subtree cannot be removed by clients).
    pub fn root_acl(&self) -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ | perms::CREATE,
            scheme: "world".into(),
            id: "anyone".into(),
        }]
    }

    pub fn pair_acl(&self) -> &[Acl] {
        &self.pair_acl
    }

    pub fn pair_path(&self) -> &str {
        &self.pair_path
    }

    pub fn term_path(&self) -> &str {
        &self.term_path
    }

    pub fn candidates_path(&self) -> &str {
        &self.candidates_path
    }

    /// The priority is part of the node name so that a priority change (delete + create in one
    /// multi) fires the other candidates' child watches; the name is only ever parsed back from
    /// the node's data, never from this string.
    pub fn candidate_node(&self, candidate: &str, priority: Priority) -> String {
        format!("{candidate}-p{priority}")
    }

    pub fn candidate_path(&self, node: &str) -> String {
        format!("{}/{node}", self.candidates_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SelectorConfig {
        SelectorConfig::new(
            "/sb/election",
            "pair-1",
            "node-a",
            Priority(10),
            Policy::Sticky,
        )
    }

    #[test]
    fn digest_id_matches_zookeeper() {
        // ZooKeeper's documented super-user example: "super:test" hashes to this digest.
        let c = DigestCredentials::new("super", "test");
        assert_eq!(c.digest_id(), "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        assert_eq!(c.auth_bytes(), b"super:test");
    }

    #[test]
    fn credentials_do_not_leak_through_debug() {
        let c = DigestCredentials::new("pair-1", "s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn validation() {
        assert_eq!(config().validate(), Ok(()));
        for root in ["", "/", "sb", "/sb/", "/sb//x", "/sb/../x", "/sb/a b"] {
            let mut c = config();
            c.root = root.into();
            assert_eq!(
                c.validate(),
                Err(ConfigError::InvalidRoot(root.into())),
                "{root}"
            );
        }
        for name in ["", ".", "..", ".hidden", "a/b", "a b", &"x".repeat(65)] {
            let mut c = config();
            c.candidate = name.into();
            assert_eq!(c.validate(), Err(ConfigError::InvalidName(name.into())));
            let mut c = config();
            c.pair = name.into();
            assert_eq!(c.validate(), Err(ConfigError::InvalidName(name.into())));
        }
        let c = config().with_credentials(DigestCredentials::new("a:b", "pw"));
        assert_eq!(c.validate(), Err(ConfigError::InvalidCredentials));
        let mut c = config();
        c.retry_delay = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::InvalidRetryDelay));
        let mut c = config();
        c.recheck_interval = Some(Duration::ZERO);
        assert_eq!(c.validate(), Err(ConfigError::InvalidRecheckInterval));
    }

    #[test]
    fn layout() {
        let c = config().with_credentials(DigestCredentials::new("pair-1", "pw"));
        let l = Layout::new(&c);
        assert_eq!(l.root_components(), vec!["/sb", "/sb/election"]);
        assert_eq!(l.pair_path(), "/sb/election/pair-1");
        assert_eq!(l.term_path(), "/sb/election/pair-1/term");
        assert_eq!(l.candidates_path(), "/sb/election/pair-1/candidates");
        let node = l.candidate_node("node-a", Priority(2000));
        assert_eq!(node, "node-a-p2000");
        assert_eq!(
            l.candidate_path(&node),
            "/sb/election/pair-1/candidates/node-a-p2000"
        );
        assert_eq!(l.pair_acl().len(), 1);
        assert_eq!(l.pair_acl()[0].scheme, "digest");
        assert_eq!(l.pair_acl()[0].perms, perms::ALL);
        assert!(l.pair_acl()[0].id.starts_with("pair-1:"));
        assert_eq!(l.root_acl()[0].perms & perms::DELETE, 0);
        let open = Layout::new(&config());
        assert_eq!(open.pair_acl(), Acl::open_unsafe().as_slice());
    }
}
