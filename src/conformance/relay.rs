//! A loopback TCP relay in front of one real ZooKeeper server, for one client session.
//!
//! It lets the real backend do to a session what the model does with its network: know which
//! server the session is connected to (the relay with the newest open connection), and freeze
//! the session's traffic without touching its process (bytes wait in the relay, as on a stalled
//! TCP connection, and flow again on thaw). When either side closes, the relay closes the
//! other, so a killed server still resets its clients.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// What the relay tells its owner about the connections through it.
#[derive(Debug, Default)]
struct Activity {
    open: AtomicUsize,
    /// The global accept order of the newest connection (0: none yet).
    newest: AtomicU64,
}

/// A relay: listens on an ephemeral loopback port and forwards each connection to `target`.
pub struct Relay {
    addr: SocketAddr,
    activity: Arc<Activity>,
    frozen: watch::Sender<bool>,
    acceptor: JoinHandle<()>,
}

/// Orders accepts across every relay of a session.
pub type AcceptClock = Arc<AtomicU64>;

impl Relay {
    pub async fn start(target: SocketAddr, clock: AcceptClock) -> std::io::Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let activity = Arc::new(Activity::default());
        let (frozen, frozen_rx) = watch::channel(false);
        let acceptor = tokio::spawn(accept_loop(
            listener,
            target,
            activity.clone(),
            frozen_rx,
            clock,
        ));
        Ok(Relay {
            addr,
            activity,
            frozen,
            acceptor,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The accept order of the newest connection, if one is still open.
    pub fn newest_open(&self) -> Option<u64> {
        (self.activity.open.load(Ordering::SeqCst) > 0)
            .then(|| self.activity.newest.load(Ordering::SeqCst))
    }

    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    activity: Arc<Activity>,
    frozen: watch::Receiver<bool>,
    clock: AcceptClock,
) {
    // Owned by this task: aborting the acceptor drops the set, which aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            biased;
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let Ok((client, _)) = accepted else {
            return;
        };
        let order = clock.fetch_add(1, Ordering::SeqCst) + 1;
        activity.newest.store(order, Ordering::SeqCst);
        activity.open.fetch_add(1, Ordering::SeqCst);
        let activity = activity.clone();
        let frozen = frozen.clone();
        connections.spawn(async move {
            if let Ok(server) = TcpStream::connect(target).await {
                relay_connection(client, server, frozen).await;
            }
            activity.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Copies both ways until either side closes, then closes both.
async fn relay_connection(client: TcpStream, server: TcpStream, frozen: watch::Receiver<bool>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        biased;
        () = pump(client_read, server_write, frozen.clone()) => {}
        () = pump(server_read, client_write, frozen) => {}
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = from.read(&mut buffer).await;
        // Frozen: hold the bytes, and the close, until thawed (a stalled link delivers its
        // reset late too).
        if frozen.wait_for(|f| !*f).await.is_err() {
            break;
        }
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::timeout;

    /// A server that echoes each connection's bytes and can be told to hang up.
    async fn echo_server() -> (SocketAddr, JoinHandle<()>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0
                            || &buf[..n] == b"bye"
                            || stream.write_all(&buf[..n]).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        (addr, task)
    }

    async fn read_some(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        let mut buf = [0u8; 64];
        match timeout(within, stream.read(&mut buf)).await {
            Ok(Ok(n)) => Some(buf[..n].to_vec()),
            _ => None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forwards_holds_while_frozen_and_reports_the_open_connection() {
        let (server, _task) = echo_server().await;
        let relay = Relay::start(server, AcceptClock::default())
            .await
            .expect("relay");
        assert_eq!(relay.newest_open(), None);
        let mut client = TcpStream::connect(relay.addr()).await.expect("connect");
        client.write_all(b"hello").await.unwrap();
        assert_eq!(
            read_some(&mut client, Duration::from_secs(5))
                .await
                .unwrap(),
            b"hello"
        );
        assert_eq!(relay.newest_open(), Some(1));

        relay.set_frozen(true);
        client.write_all(b"held").await.unwrap();
        assert_eq!(
            read_some(&mut client, Duration::from_millis(200)).await,
            None
        );
        relay.set_frozen(false);
        assert_eq!(
            read_some(&mut client, Duration::from_secs(5))
                .await
                .unwrap(),
            b"held"
        );

        // A request that makes the server hang up waits too; after the thaw the hang-up
        // reaches the client as a closed connection.
        relay.set_frozen(true);
        client.write_all(b"bye").await.unwrap();
        assert_eq!(
            read_some(&mut client, Duration::from_millis(200)).await,
            None
        );
        relay.set_frozen(false);
        assert_eq!(
            read_some(&mut client, Duration::from_secs(5))
                .await
                .unwrap(),
            b""
        );
    }
}
