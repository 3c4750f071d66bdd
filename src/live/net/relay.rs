//! A relay's listener: accepts clients on 127.0.0.1 and serves each in its own task.

use super::connection::{self, Path};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};

/// How long the acceptor waits after a failed accept (out of descriptors, say) before trying
/// again, so that it neither spins nor stops serving.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// Starts serving `listener` on the ambient tokio runtime. Aborting the returned handle stops
/// the relay and every connection through it.
pub(crate) fn spawn(
    listener: std::net::TcpListener,
    path: Arc<Path>,
    changes: watch::Receiver<u64>,
) -> io::Result<AbortHandle> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
        io::Error::other("a relay runs on a tokio runtime; none is running on this thread")
    })?;
    listener.set_nonblocking(true)?;
    let _entered = runtime.enter();
    let listener = TcpListener::from_std(listener)?;
    Ok(runtime
        .spawn(accept_loop(listener, path, changes))
        .abort_handle())
}

async fn accept_loop(listener: TcpListener, path: Arc<Path>, changes: watch::Receiver<u64>) {
    // Owned by this task: aborting it drops the set, which aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            accepted = listener.accept() => accepted,
            // Reap finished connections so that the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((client, _)) => {
                connections.spawn(connection::run(client, path.clone(), changes.clone()));
            }
            Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
        }
    }
}
