//! What the node does while it is master: a guarded write to the fencing store every write
//! interval, each carrying the grant's fencing token, and each sent only while the grant's
//! lease holds (a tick without it is reported as `write_held`). A rejected write means a newer
//! master exists; the work then stops writing and waits for the demotion the selector will
//! deliver.

use super::fencing_store::{FencingStore, Outcome};
use super::output::EventOutput;
use crate::election::{FencingToken, ZkSelector};
use crate::env::{Environment, TokioEnv};
use crate::sync::watch;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

/// The node's writer: its store handle and the sequence number of its next write, kept across
/// grants so that write ids are unique per process.
#[derive(Debug)]
pub struct Writer {
    store: FencingStore,
    next_write: u64,
}

impl Writer {
    pub fn new(store: FencingStore) -> Arc<Mutex<Writer>> {
        Arc::new(Mutex::new(Writer {
            store,
            next_write: 1,
        }))
    }
}

/// The master work of one grant, running until [`MasterWork::stop`].
pub struct MasterWork {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MasterWork {
    /// `lease` is the selector that granted `token`: each write waits for its lease (see
    /// [`ZkSelector::acting_until`]).
    pub fn start(
        token: FencingToken,
        lease: ZkSelector,
        writer: Arc<Mutex<Writer>>,
        interval: Duration,
        output: EventOutput,
        env: TokioEnv,
    ) -> MasterWork {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(write_while_master(
            token, lease, writer, interval, output, env, stopped,
        ));
        MasterWork { stop, task }
    }

    /// Stops the work and returns once no write is in flight any more.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        // A panicked worker has stopped as well.
        let _ = self.task.await;
    }
}

async fn write_while_master(
    token: FencingToken,
    lease: ZkSelector,
    writer: Arc<Mutex<Writer>>,
    interval: Duration,
    output: EventOutput,
    env: TokioEnv,
    mut stopped: watch::Receiver<bool>,
) {
    let node = output.node().to_string();
    let mut ticks = tokio::time::interval(interval);
    // After a pause (SIGSTOP, an overloaded host) write once, not a burst of missed writes.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => return,
            _ = ticks.tick() => {}
        }
        // The grant's lease as well as the role: a process resumed from a pause (SIGSTOP, a
        // frozen VM) runs its overdue ticks before the selector has heard of anything.
        if lease
            .acting_until(token)
            .is_none_or(|until| env.now() >= until)
        {
            output.emit("write_held", json!({ "token": token.value() }));
            continue;
        }
        let writer = writer.clone();
        let node = node.clone();
        let env = env.clone();
        // File locking blocks: keep it off the runtime's workers that run the selector.
        let written = tokio::task::spawn_blocking(move || {
            let mut writer = writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let write = writer.next_write;
            writer.next_write += 1;
            writer
                .store
                .write(&node, token.value(), write, env.wall_millis())
        })
        .await;
        match written {
            Ok(Ok(record)) => {
                let fields = json!({
                    "token": record.token,
                    "write": record.write,
                    "newest": record.newest,
                });
                match record.outcome {
                    Outcome::Accepted => output.emit("write_accepted", fields),
                    Outcome::Rejected => {
                        output.emit("write_rejected", fields);
                        // A newer master wrote: this grant is over whatever the selector
                        // knows yet. Stop writing; the demotion follows.
                        let _ = stopped.wait_for(|stop| *stop).await;
                        return;
                    }
                }
            }
            Ok(Err(err)) => output.emit("write_failed", json!({ "error": err.to_string() })),
            Err(err) => output.emit("write_failed", json!({ "error": err.to_string() })),
        }
    }
}
