//! The conformance cases, each written once against [`Backend`] and run on both backends.
//!
//! A case gets a [`Cx`]: the backend, a recorder for its observations and a root path of its
//! own (`/<case name>`, created before it starts), so cases can share one real ensemble.
//! Cases that inject faults into the ensemble run on a fresh one ([`Setup::Fresh`]).

mod acl;
mod faults;
mod multi;
mod ops;
mod sessions;
mod stat;
mod watches;

use super::backend::{Backend, CaseError, CaseResult, SessionOptions, StateLog};
use super::observe::{Observe, Recorder};
use crate::coord::{Coordination, CreateOptions, Watch};
use crate::zk::types::{CreateMode, SessionState, WatchedEvent};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Session timeout of cases that do not test timing: long enough that a loaded machine never
/// expires a session by accident.
pub const RELAXED_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound for anything that should happen promptly (a watch after a write, a reconnect).
pub const PROMPTLY: Duration = Duration::from_secs(15);
/// How long a case listens to conclude that nothing (more) happens.
pub const QUIET: Duration = Duration::from_millis(300);

/// Which ensemble a case needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// Any healthy ensemble; the case touches only paths under its root.
    Shared,
    /// A fresh ensemble: the case kills, pauses or restarts servers.
    Fresh,
}

/// A case's name, group and setup.
#[derive(Clone, Copy, Debug)]
pub struct CaseInfo {
    pub name: &'static str,
    pub group: &'static str,
    pub setup: Setup,
}

/// What a case works with.
pub struct Cx<'a, B: Backend> {
    pub b: &'a B,
    pub r: Recorder,
    root: String,
}

impl<'a, B: Backend> Cx<'a, B> {
    pub fn new(backend: &'a B, root: &str) -> Self {
        Cx {
            b: backend,
            r: Recorder::new(),
            root: root.to_string(),
        }
    }

    /// The case's root path.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// A path under the case's root.
    pub fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.root)
    }

    pub fn see(&mut self, label: &str, value: impl Observe) {
        self.r.see(label, value);
    }

    /// A session on any server with the relaxed timeout.
    pub async fn session(&mut self) -> Result<B::Session, CaseError> {
        self.session_with(&SessionOptions::new(RELAXED_TIMEOUT))
            .await
    }

    /// Opens a session; its id is named (s1, s2, …) in the order sessions are opened.
    pub async fn session_with(
        &mut self,
        options: &SessionOptions,
    ) -> Result<B::Session, CaseError> {
        let session = self
            .b
            .connect(options)
            .await
            .map_err(|e| format!("{}: connect failed: {e}", self.b.name()))?;
        self.r.session(session.session_id());
        Ok(session)
    }

    /// Creates a node the case needs (a failure is a case error, not an observation).
    pub async fn make(
        &self,
        session: &B::Session,
        relative: &str,
        mode: CreateMode,
    ) -> Result<String, CaseError> {
        let path = self.path(relative);
        session
            .create(&path, b"", &CreateOptions::new(mode))
            .await
            .map(|(p, _)| p)
            .map_err(|e| format!("{}: setup create {path}: {e}", self.b.name()))
    }

    /// Starts recording the session's later state changes.
    pub fn follow(&self, session: &B::Session) -> StateLog {
        StateLog::follow(self.b, session)
    }

    /// Waits until the session reports `state` (within [`PROMPTLY`]); records nothing.
    pub async fn reach(&self, session: &B::Session, state: SessionState) -> CaseResult {
        self.reach_within(session, state, PROMPTLY).await
    }

    /// Waits until the session reports `state` (within `bound`); records nothing.
    pub async fn reach_within(
        &self,
        session: &B::Session,
        state: SessionState,
        bound: Duration,
    ) -> CaseResult {
        let mut states = session.state_watcher();
        if session.state() == state {
            return Ok(());
        }
        let wait = states.wait_for(|s| *s == state);
        tokio::select! {
            biased;
            reached = wait => reached.map(|_| ()).map_err(|_| "state watcher ended".to_string()),
            () = self.b.sleep(bound) => {
                Err(format!("{}: session did not reach {state:?} within {bound:?}", self.b.name()))
            }
        }
    }
}

/// A watch being waited on, which can be checked without being consumed.
pub struct Pending {
    event: Pin<Box<dyn Future<Output = WatchedEvent>>>,
    fired: Option<WatchedEvent>,
}

impl Pending {
    pub fn new(watch: Watch) -> Pending {
        Pending {
            event: Box::pin(watch.changed()),
            fired: None,
        }
    }

    /// The event, if it fires within `bound` on the backend's clock (or fired earlier).
    pub async fn within<B: Backend>(&mut self, b: &B, bound: Duration) -> Option<WatchedEvent> {
        if self.fired.is_none() {
            tokio::select! {
                biased;
                event = &mut self.event => self.fired = Some(event),
                () = b.sleep(bound) => {}
            }
        }
        self.fired.clone()
    }

    /// Waits promptly for the event.
    pub async fn fired<B: Backend>(&mut self, b: &B) -> Option<WatchedEvent> {
        self.within(b, PROMPTLY).await
    }

    /// Whether the event shows up in the quiet window.
    pub async fn quiet<B: Backend>(&mut self, b: &B) -> Option<WatchedEvent> {
        self.within(b, QUIET).await
    }
}

/// A duration as a bounded class: "in [lo, hi]" when inside, otherwise the raw value (which
/// then shows in the diff).
pub fn class(label: &str, d: Duration, lo: Duration, hi: Duration) -> String {
    if d >= lo && d <= hi {
        format!("{label} in [{lo:?}, {hi:?}]")
    } else {
        format!("{label} outside [{lo:?}, {hi:?}]: {d:?}")
    }
}

macro_rules! registry {
    ($($group:ident :: $name:ident [$setup:ident]),* $(,)?) => {
        /// Every case, in the order the suite runs them.
        pub const CASES: &[CaseInfo] = &[
            $(CaseInfo { name: stringify!($name), group: stringify!($group), setup: Setup::$setup },)*
        ];

        /// Runs the case called `name`.
        pub async fn run_case<B: Backend>(name: &str, cx: &mut Cx<'_, B>) -> CaseResult {
            match name {
                $(stringify!($name) => $group::$name(cx).await,)*
                other => Err(format!("no case named {other}")),
            }
        }
    };
}

/// Create options with the open ACL.
pub fn mode(mode: CreateMode) -> CreateOptions {
    CreateOptions::new(mode)
}

pub const PERSISTENT: CreateMode = CreateMode::Persistent;
pub const EPHEMERAL: CreateMode = CreateMode::Ephemeral;
pub const PSEQ: CreateMode = CreateMode::PersistentSequential;
pub const ESEQ: CreateMode = CreateMode::EphemeralSequential;
pub const CONTAINER: CreateMode = CreateMode::Container;

registry! {
    ops::create_returns_path_and_stat[Shared],
    ops::create_existing_node[Shared],
    ops::create_without_parent[Shared],
    ops::create_under_ephemeral[Shared],
    ops::create_bad_paths[Shared],
    ops::create_empty_acl[Shared],
    ops::delete_errors_in_check_order[Shared],
    ops::delete_then_recreate[Shared],
    ops::set_data_errors_and_versions[Shared],
    ops::reads_of_missing_nodes[Shared],
    ops::get_children_and_parent_stat[Shared],
    ops::get_acl_of_open_node[Shared],
    ops::sequential_names_count_creations[Shared],
    ops::sequential_names_across_deletes[Shared],
    ops::sequential_ephemeral_names[Shared],
    ops::sequential_with_trailing_slash[Shared],
    ops::data_lengths[Shared],
    ops::sync_existing_and_missing[Shared],
    ops::reserved_paths[Shared],
    ops::oversized_data[Shared],
    ops::others_may_write_an_ephemeral[Shared],
    ops::sequence_restarts_with_a_new_parent[Shared],
    stat::set_moves_mzxid_and_version[Shared],
    stat::child_create_and_delete_move_pzxid[Shared],
    stat::cversion_counts_creates_and_deletes[Shared],
    stat::ephemeral_owner_is_the_session[Shared],
    stat::failed_writes_consume_zxids[Shared],
    stat::zxids_increase_across_sessions[Shared],
    stat::container_stat[Shared],
    multi::multi_success_results[Shared],
    multi::multi_failure_in_the_middle[Shared],
    multi::multi_failure_first_op[Shared],
    multi::multi_failure_leaves_nothing[Shared],
    multi::multi_sequential_and_ephemeral[Shared],
    multi::multi_create_then_delete[Shared],
    multi::multi_ops_share_one_zxid[Shared],
    multi::multi_empty[Shared],
    watches::data_watch_on_set[Shared],
    watches::data_watch_on_delete[Shared],
    watches::exists_watch_on_create[Shared],
    watches::exists_watch_on_set[Shared],
    watches::exists_watch_on_delete[Shared],
    watches::child_watch_on_create[Shared],
    watches::child_watch_on_child_delete[Shared],
    watches::child_watch_on_parent_delete[Shared],
    watches::child_watch_ignores_child_data[Shared],
    watches::data_watch_ignores_children[Shared],
    watches::watch_is_one_shot[Shared],
    watches::watch_fires_before_read_sees_change[Shared],
    watches::several_watches_one_change[Shared],
    watches::watches_of_two_sessions[Shared],
    watches::multi_fires_each_watch_once[Shared],
    watches::failed_read_sets_no_data_watch[Shared],
    watches::own_write_fires_own_watch[Shared],
    sessions::ephemeral_goes_on_close[Shared],
    sessions::close_fires_other_sessions_watches[Shared],
    sessions::closed_session_refuses_calls[Shared],
    sessions::own_watch_on_close[Shared],
    sessions::close_deletes_only_own_ephemerals[Shared],
    sessions::ephemeral_goes_on_expiry[Shared],
    sessions::expired_session_states[Shared],
    sessions::container_deleted_when_emptied[Shared],
    sessions::container_never_filled_stays[Shared],
    sessions::lock_recipe_predecessor_watch[Shared],
    acl::digest_acl_refuses_others[Shared],
    acl::creator_all_acl[Shared],
    acl::exists_watch_on_unreadable_node[Shared],
    acl::add_auth_grants_access[Shared],
    acl::read_only_acl[Shared],
    acl::delete_needs_parent_permission[Shared],
    acl::acl_checked_before_version[Shared],
    acl::acl_checked_before_existence[Shared],
    acl::unknown_auth_scheme[Shared],
    faults::session_moves_with_ephemerals[Fresh],
    faults::watches_survive_a_move[Fresh],
    faults::change_while_disconnected_fires_on_reconnect[Fresh],
    faults::zxid_ahead_is_not_served_stale[Fresh],
    faults::quorum_loss_fails_writes_and_disconnects[Fresh],
    faults::leader_kill_sessions_survive[Fresh],
    faults::leader_change_restarts_timeouts[Fresh],
    faults::paused_server_client_moves[Fresh],
    faults::wiped_ensemble_refuses_a_client_from_the_future[Fresh],
}
