//! [`SimZkClient`]: the session handle the election code holds; it implements
//! [`Coordination`] by sending requests to the session's driver task.

use crate::coord::{Coordination, CreateOptions, StateWatcher, Watch};
use crate::env::Environment;
use crate::sim::net::Addr;
use crate::sim::world::HostCtx;
use crate::sync::watch;
use crate::zk::client::config::ClientConfig;
use crate::zk::client::driver::{self, SharedSession};
use crate::zk::client::requests::{OpOutcome, Request, error_for_state, op_label};
use crate::zk::client::session::SessionCore;
use crate::zk::proto::{ClientOp, OpReply};
use crate::zk::types::{
    ANY_VERSION, Acl, ErrorCode, Op, OpResult, SessionId, SessionState, Stat, ZkResult,
    validate_path,
};
use madsim::rand::Rng;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;

/// A simulated ZooKeeper session on one host. Clones share the session; when the last clone
/// is dropped the session is closed, as the crate does.
#[derive(Clone)]
pub struct SimZkClient {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: HostCtx,
    session: SharedSession,
    state: watch::Receiver<SessionState>,
    session_id: SessionId,
    /// Set by the first `close`.
    close_called: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.session.abandon();
    }
}

impl SimZkClient {
    /// Binds a client port on the calling host, starts the session's task there and returns
    /// once the first session is established. Fails with `OperationTimeout` when none is
    /// established within the connect deadline, `BadArguments` without servers.
    pub async fn connect(ctx: &HostCtx, config: ClientConfig) -> ZkResult<SimZkClient> {
        let mailbox = ctx.net.bind_ephemeral();
        let seed = madsim::rand::thread_rng().r#gen::<u64>();
        let (established, established_rx) = oneshot::channel();
        let core = SessionCore::new(&config, mailbox.addr, seed, ctx.env.now(), established)?;
        let (state_tx, state) = watch::channel(SessionState::Disconnected);
        let session = SharedSession::new(ctx.clone(), mailbox.addr.port, core, state_tx);
        ctx.env
            .spawn(driver::run(ctx.clone(), mailbox, session.clone()));
        let session_id = established_rx
            .await
            .unwrap_or(Err(ErrorCode::ConnectionLoss))?;
        Ok(SimZkClient {
            inner: Arc::new(Inner {
                ctx: ctx.clone(),
                session,
                state,
                session_id,
                close_called: AtomicBool::new(false),
            }),
        })
    }

    /// The server the session is connected to right now, if any (for faults aimed at "this
    /// client's server").
    pub fn server(&self) -> Option<Addr> {
        self.inner.session.view().server
    }

    /// The error a call gets when the session task is gone.
    fn gone_error(&self) -> ErrorCode {
        error_for_state(*self.inner.state.borrow())
    }

    /// A call that never reached the session (bad arguments, session task gone): traced and
    /// counted like any other.
    fn rejected<T>(&self, op: &ClientOp, err: ErrorCode) -> ZkResult<T> {
        let (kind, path) = op_label(op);
        self.inner
            .ctx
            .trace("client", format_args!("{kind} {path} {err:?}"));
        self.inner.ctx.world.count("client.ops_failed", 1);
        Err(err)
    }

    async fn call(&self, op: ClientOp) -> ZkResult<OpOutcome> {
        let (reply, result) = oneshot::channel();
        if let Err(request) = self.inner.session.submit(Request::Op { op, reply }) {
            let Request::Op { op, .. } = request else {
                unreachable!("sent an op")
            };
            return self.rejected(&op, self.gone_error());
        }
        result.await.unwrap_or_else(|_| Err(self.gone_error()))
    }

    async fn call_checked(
        &self,
        op: ClientOp,
        path: &str,
        sequential: bool,
    ) -> ZkResult<OpOutcome> {
        match validate_path(path, sequential) {
            Ok(()) => self.call(op).await,
            Err(err) => self.rejected(&op, err),
        }
    }

    /// The session's state machine guarantees the reply shape matches the op; a server that
    /// answers otherwise is a bug reported as `MarshallingError`.
    fn unexpected<T>() -> ZkResult<T> {
        Err(ErrorCode::MarshallingError)
    }
}

fn version_arg(version: Option<i32>) -> i32 {
    version.unwrap_or(ANY_VERSION)
}

impl Coordination for SimZkClient {
    async fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> ZkResult<(String, Stat)> {
        let op = ClientOp::Create {
            path: path.to_string(),
            data: data.to_vec(),
            acl: options.acl.clone(),
            mode: options.mode,
        };
        // The crate refuses to create the root before sending anything (found by the
        // conformance case `reserved_paths`).
        if path == "/" {
            return self.rejected(&op, ErrorCode::BadArguments);
        }
        match self
            .call_checked(op, path, options.mode.is_sequential())
            .await?
            .reply
        {
            OpReply::Create { path, stat } => Ok((path, stat)),
            _ => Self::unexpected(),
        }
    }

    async fn delete(&self, path: &str, version: Option<i32>) -> ZkResult<()> {
        let op = ClientOp::Delete {
            path: path.to_string(),
            version: version_arg(version),
        };
        self.call_checked(op, path, false).await.map(|_| ())
    }

    async fn get_data(&self, path: &str) -> ZkResult<(Vec<u8>, Stat)> {
        let op = ClientOp::GetData {
            path: path.to_string(),
            watch: false,
        };
        match self.call_checked(op, path, false).await?.reply {
            OpReply::Data { data, stat } => Ok((data, stat)),
            _ => Self::unexpected(),
        }
    }

    async fn get_data_watch(&self, path: &str) -> ZkResult<(Vec<u8>, Stat, Watch)> {
        let op = ClientOp::GetData {
            path: path.to_string(),
            watch: true,
        };
        match self.call_checked(op, path, false).await? {
            OpOutcome {
                reply: OpReply::Data { data, stat },
                watch: Some(watch),
            } => Ok((data, stat, watch)),
            _ => Self::unexpected(),
        }
    }

    async fn set_data(&self, path: &str, data: &[u8], version: Option<i32>) -> ZkResult<Stat> {
        let op = ClientOp::SetData {
            path: path.to_string(),
            data: data.to_vec(),
            version: version_arg(version),
        };
        match self.call_checked(op, path, false).await?.reply {
            OpReply::Stat(stat) => Ok(stat),
            _ => Self::unexpected(),
        }
    }

    async fn exists(&self, path: &str) -> ZkResult<Option<Stat>> {
        let op = ClientOp::Exists {
            path: path.to_string(),
            watch: false,
        };
        match self.call_checked(op, path, false).await?.reply {
            OpReply::Exists(stat) => Ok(stat),
            _ => Self::unexpected(),
        }
    }

    async fn exists_watch(&self, path: &str) -> ZkResult<(Option<Stat>, Watch)> {
        let op = ClientOp::Exists {
            path: path.to_string(),
            watch: true,
        };
        match self.call_checked(op, path, false).await? {
            OpOutcome {
                reply: OpReply::Exists(stat),
                watch: Some(watch),
            } => Ok((stat, watch)),
            _ => Self::unexpected(),
        }
    }

    async fn get_children(&self, path: &str) -> ZkResult<(Vec<String>, Stat)> {
        let op = ClientOp::GetChildren {
            path: path.to_string(),
            watch: false,
        };
        match self.call_checked(op, path, false).await?.reply {
            OpReply::Children { children, stat } => Ok((children, stat)),
            _ => Self::unexpected(),
        }
    }

    async fn get_children_watch(&self, path: &str) -> ZkResult<(Vec<String>, Stat, Watch)> {
        let op = ClientOp::GetChildren {
            path: path.to_string(),
            watch: true,
        };
        match self.call_checked(op, path, false).await? {
            OpOutcome {
                reply: OpReply::Children { children, stat },
                watch: Some(watch),
            } => Ok((children, stat, watch)),
            _ => Self::unexpected(),
        }
    }

    async fn multi(&self, ops: Vec<Op>) -> ZkResult<Vec<OpResult>> {
        let bad = ops.iter().find_map(|o| {
            let sequential = matches!(o, Op::Create { mode, .. } if mode.is_sequential());
            // As the crate's `add_delete`: deleting the root is refused locally.
            if matches!(o, Op::Delete { path, .. } if path == "/") {
                return Some(ErrorCode::BadArguments);
            }
            validate_path(o.path(), sequential).err()
        });
        let op = ClientOp::Multi { ops };
        if let Some(err) = bad {
            return self.rejected(&op, err);
        }
        match self.call(op).await?.reply {
            OpReply::Multi(results) => Ok(results),
            _ => Self::unexpected(),
        }
    }

    async fn sync(&self, path: &str) -> ZkResult<()> {
        let op = ClientOp::Sync {
            path: path.to_string(),
        };
        self.call_checked(op, path, false).await.map(|_| ())
    }

    async fn add_auth(&self, scheme: &str, auth: &[u8]) -> ZkResult<()> {
        let (reply, result) = oneshot::channel();
        let request = Request::AddAuth {
            scheme: scheme.to_string(),
            auth: auth.to_vec(),
            reply,
        };
        if self.inner.session.submit(request).is_err() {
            return Err(self.gone_error());
        }
        result.await.unwrap_or_else(|_| Err(self.gone_error()))
    }

    async fn get_acl(&self, path: &str) -> ZkResult<(Vec<Acl>, Stat)> {
        let op = ClientOp::GetAcl {
            path: path.to_string(),
        };
        match self.call_checked(op, path, false).await?.reply {
            OpReply::Acl { acl, stat } => Ok((acl, stat)),
            _ => Self::unexpected(),
        }
    }

    fn session_id(&self) -> SessionId {
        self.inner.session_id
    }

    fn session_timeout(&self) -> Duration {
        self.inner.session.view().session_timeout
    }

    fn state(&self) -> SessionState {
        *self.inner.state.borrow()
    }

    /// Reports the changes after this call (the crate's `state_watcher` consumes the
    /// changes so far).
    fn state_watcher(&self) -> StateWatcher {
        let mut watcher = self.inner.state.clone();
        watcher.borrow_and_update();
        watcher
    }

    /// As the adapter over the crate does: the first close ends the session (`Ok` also when
    /// it had already ended: expired or auth-failed, its ephemerals are gone either way); any
    /// later close is `ClientClosed`, the handle having been given up (found by the
    /// conformance cases `closed_session_refuses_calls` and `expired_session_states`).
    async fn close(&self) -> ZkResult<()> {
        if self.inner.close_called.swap(true, Ordering::SeqCst) {
            return Err(ErrorCode::ClientClosed);
        }
        let (reply, result) = oneshot::channel();
        let closed_already = |state: SessionState| {
            if state.is_terminal() {
                Ok(())
            } else {
                Err(error_for_state(state))
            }
        };
        if self.inner.session.submit(Request::Close { reply }).is_err() {
            return closed_already(self.state());
        }
        result
            .await
            .unwrap_or_else(|_| closed_already(self.state()))
    }
}
