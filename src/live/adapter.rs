//! [`LiveZk`]: the [`Coordination`] trait over the `zookeeper-client` crate, for real
//! ensembles.
//!
//! It must be used inside a (real) tokio runtime: the crate runs its session on the ambient
//! runtime, and the adapter spawns one small task per watch and one that follows the session's
//! state.

use super::convert;
use crate::coord::{Coordination, CreateOptions, StateWatcher, Watch};
use crate::sync::watch;
use crate::zk::types::{Acl, ErrorCode, Op, OpResult, SessionId, SessionState, Stat, ZkResult};
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

/// A session with a real ZooKeeper ensemble.
pub struct LiveZk {
    /// `None` once [`close`](Coordination::close) was called: the crate closes the session when
    /// the last `Client` handle is dropped.
    client: Mutex<Option<zk::Client>>,
    session_id: SessionId,
    session_timeout: Duration,
    state: watch::Receiver<SessionState>,
    state_follower: JoinHandle<()>,
}

impl LiveZk {
    /// Connects to `connect_string` (`host:port,host:port,…`), asking for `session_timeout`,
    /// and authenticates with each `(scheme, auth)` pair (e.g. `("digest", b"user:password")`),
    /// also after every reconnect. Waits until the session is established.
    pub async fn connect(
        connect_string: &str,
        session_timeout: Duration,
        auth: &[(String, Vec<u8>)],
    ) -> ZkResult<LiveZk> {
        let mut connector = zk::Client::connector().with_session_timeout(session_timeout);
        for (scheme, data) in auth {
            connector = connector.with_auth(scheme, data);
        }
        let client = connector
            .connect(connect_string)
            .await
            .map_err(|e| convert::error_code(&e))?;
        let session_id = client.session_id().0;
        let session_timeout = client.session_timeout();
        let mut upstream = client.state_watcher();
        let (sender, state) = watch::channel(convert::session_state(upstream.peek_state()));
        let state_follower = tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    biased;
                    // Nobody follows the state any more.
                    () = sender.closed() => return,
                    next = upstream.changed() => convert::session_state(next),
                };
                let _ = sender.send(next);
                if next.is_terminal() {
                    return;
                }
            }
        });
        Ok(LiveZk {
            client: Mutex::new(Some(client)),
            session_id,
            session_timeout,
            state,
            state_follower,
        })
    }

    /// The session timeout the ensemble granted (it clamps the requested one into its
    /// `[minSessionTimeout, maxSessionTimeout]`).
    pub fn negotiated_session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// A handle to the crate's client, or `ClientClosed` after `close`.
    fn client(&self) -> ZkResult<zk::Client> {
        self.client
            .lock()
            .map_err(|_| ErrorCode::SystemError)?
            .clone()
            .ok_or(ErrorCode::ClientClosed)
    }
}

impl Drop for LiveZk {
    fn drop(&mut self) {
        self.state_follower.abort();
    }
}

fn code(err: zk::Error) -> ErrorCode {
    convert::error_code(&err)
}

/// Forwards the crate's one-shot watcher into a [`Watch`]. The crate resolves it with the node
/// event, or with the terminal session state if the session ends first.
fn forward(watcher: zk::OneshotWatcher) -> Watch {
    let (trigger, watch) = Watch::new();
    tokio::spawn(async move {
        let event = watcher.changed().await;
        trigger.fire(convert::watched_event(&event));
    });
    watch
}

impl Coordination for LiveZk {
    async fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> ZkResult<(String, Stat)> {
        let client = self.client()?;
        let acls = convert::acls_to_zk(&options.acl)?;
        let zk_options = convert::create_mode(options.mode).with_acls(zk::Acls::new(&acls));
        let (stat, sequence) = client.create(path, data, &zk_options).await.map_err(code)?;
        // The crate returns the sequence number rather than the path; ZooKeeper appends it to
        // the requested path as printed by `CreateSequence`'s Display.
        let created = if options.mode.is_sequential() {
            format!("{path}{sequence}")
        } else {
            path.to_string()
        };
        Ok((created, convert::stat(&stat)))
    }

    async fn delete(&self, path: &str, version: Option<i32>) -> ZkResult<()> {
        self.client()?.delete(path, version).await.map_err(code)
    }

    async fn get_data(&self, path: &str) -> ZkResult<(Vec<u8>, Stat)> {
        let (data, stat) = self.client()?.get_data(path).await.map_err(code)?;
        Ok((data, convert::stat(&stat)))
    }

    async fn get_data_watch(&self, path: &str) -> ZkResult<(Vec<u8>, Stat, Watch)> {
        let client = self.client()?;
        let (data, stat, watcher) = client.get_and_watch_data(path).await.map_err(code)?;
        Ok((data, convert::stat(&stat), forward(watcher)))
    }

    async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> ZkResult<Stat> {
        let stat = self
            .client()?
            .set_data(path, data, version)
            .await
            .map_err(code)?;
        Ok(convert::stat(&stat))
    }

    async fn exists(&self, path: &str) -> ZkResult<Option<Stat>> {
        let stat = self.client()?.check_stat(path).await.map_err(code)?;
        Ok(stat.as_ref().map(convert::stat))
    }

    async fn exists_watch(&self, path: &str) -> ZkResult<(Option<Stat>, Watch)> {
        let client = self.client()?;
        let (stat, watcher) = client.check_and_watch_stat(path).await.map_err(code)?;
        Ok((stat.as_ref().map(convert::stat), forward(watcher)))
    }

    async fn get_children(&self, path: &str) -> ZkResult<(Vec<String>, Stat)> {
        let (children, stat) = self.client()?.get_children(path).await.map_err(code)?;
        Ok((children, convert::stat(&stat)))
    }

    async fn get_children_watch(&self, path: &str) -> ZkResult<(Vec<String>, Stat, Watch)> {
        let client = self.client()?;
        let (children, stat, watcher) = client.get_and_watch_children(path).await.map_err(code)?;
        Ok((children, convert::stat(&stat), forward(watcher)))
    }

    async fn multi(&self, ops: Vec<Op>) -> ZkResult<Vec<OpResult>> {
        let client = self.client()?;
        let mut writer = client.new_multi_writer();
        for op in &ops {
            match op {
                Op::Create {
                    path,
                    data,
                    acl,
                    mode,
                } => {
                    let acls = convert::acls_to_zk(acl)?;
                    let options = convert::create_mode(*mode).with_acls(zk::Acls::new(&acls));
                    writer.add_create(path, data, &options)
                }
                Op::Delete { path, version } => writer.add_delete(path, Some(*version)),
                Op::SetData {
                    path,
                    data,
                    version,
                } => writer.add_set_data(path, data, Some(*version)),
                Op::Check { path, version } => writer.add_check_version(path, *version),
            }
            .map_err(code)?;
        }
        match writer.commit().await {
            Ok(results) => Ok(results.into_iter().map(convert::multi_result).collect()),
            Err(zk::MultiWriteError::OperationFailed { index, source }) => Ok(
                convert::failed_multi(ops.len(), index, convert::error_code(&source)),
            ),
            Err(zk::MultiWriteError::RequestFailed { source }) => Err(code(source)),
        }
    }

    async fn sync(&self, path: &str) -> ZkResult<()> {
        self.client()?.sync(path).await.map_err(code)
    }

    async fn add_auth(&self, scheme: &str, auth: &[u8]) -> ZkResult<()> {
        self.client()?.auth(scheme, auth).await.map_err(code)
    }

    async fn get_acl(&self, path: &str) -> ZkResult<(Vec<Acl>, Stat)> {
        let client = self.client()?;
        let (acls, stat) = client.get_acl(path).await.map_err(code)?;
        Ok((
            acls.iter().map(convert::acl_from_zk).collect(),
            convert::stat(&stat),
        ))
    }

    fn session_id(&self) -> SessionId {
        self.session_id
    }

    fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    fn state(&self) -> SessionState {
        *self.state.borrow()
    }

    fn state_watcher(&self) -> StateWatcher {
        self.state.clone()
    }

    /// Drops the crate's client, which sends closeSession, and waits (at most one session
    /// timeout) for the session to end. `Ok` once it is closed, or expired meanwhile (either
    /// way its ephemerals are gone); `ConnectionLoss` if no answer came in time (the ensemble
    /// will expire it); `ClientClosed` if it was already closed.
    async fn close(&self) -> ZkResult<()> {
        let client = self
            .client
            .lock()
            .map_err(|_| ErrorCode::SystemError)?
            .take()
            .ok_or(ErrorCode::ClientClosed)?;
        // Requests still in flight hold clones; the session closes when the last one finishes.
        drop(client);
        let mut state = self.state.clone();
        let ended =
            tokio::time::timeout(self.session_timeout, state.wait_for(|s| s.is_terminal())).await;
        match ended {
            Ok(Ok(_)) => Ok(()),
            // The follower stopped without a terminal state: only if this adapter is being
            // dropped, which cannot happen while `close` borrows it.
            Ok(Err(_)) => Err(ErrorCode::SystemError),
            Err(_) => Err(ErrorCode::ConnectionLoss),
        }
    }
}
