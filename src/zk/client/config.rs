//! What a simulated client is told at construction.

use crate::sim::net::Addr;
use std::time::Duration;

/// Which real client library's session machinery the simulated client reproduces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ClientModel {
    /// zookeeper-client 0.11.2 (the crate the election code uses against real ZooKeeper):
    /// tick-driven liveness, client-side expiry at 7/5·T, reshuffled endpoints with back-off.
    #[default]
    Rust,
    /// The Java client of ZooKeeper 3.8 (`ClientCnxn` + `StaticHostProvider`): read timeout
    /// 2/3·T, no client-side expiry, round-robin over a list shuffled once.
    Java,
}

/// The crate's default session timeout (`DEFAULT_SESSION_TIMEOUT`).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(6);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// The ensemble's client addresses (the connect string).
    pub servers: Vec<Addr>,
    /// The requested session timeout T; the server clamps it and answers the negotiated one.
    /// Zero means the default (6 s), as in the crate.
    pub session_timeout: Duration,
    pub model: ClientModel,
    /// `(scheme, auth)` pairs sent with every (re)connect, before any request.
    pub auth: Vec<(String, Vec<u8>)>,
    /// How long `connect` waits for the first session before giving up; `None` means the
    /// session timeout (the crate's rule).
    pub connect_deadline: Option<Duration>,
}

impl ClientConfig {
    /// The crate's defaults: T = 6 s, Rust model, no auth.
    pub fn new(servers: Vec<Addr>) -> Self {
        ClientConfig {
            servers,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
            model: ClientModel::Rust,
            auth: Vec::new(),
            connect_deadline: None,
        }
    }

    pub fn with_session_timeout(mut self, timeout: Duration) -> Self {
        self.session_timeout = timeout;
        self
    }

    pub fn with_model(mut self, model: ClientModel) -> Self {
        self.model = model;
        self
    }

    pub fn with_auth(mut self, scheme: &str, auth: &[u8]) -> Self {
        self.auth.push((scheme.to_string(), auth.to_vec()));
        self
    }

    pub fn with_connect_deadline(mut self, deadline: Duration) -> Self {
        self.connect_deadline = Some(deadline);
        self
    }

    /// The requested timeout with the default applied.
    pub fn requested_timeout(&self) -> Duration {
        if self.session_timeout.is_zero() {
            DEFAULT_SESSION_TIMEOUT
        } else {
            self.session_timeout
        }
    }

    /// The connect deadline with the default applied.
    pub fn effective_connect_deadline(&self) -> Duration {
        self.connect_deadline
            .unwrap_or_else(|| self.requested_timeout())
    }
}
