//! The ZooKeeper servers' roles as the history needs them ("leading", "following", …, as the
//! simulated servers announce them), polled from each running server with `srvr` on its real
//! client port (the runner's own connection, which no fault touches).

use super::history::Recorder;
use crate::live::four_letter::{self, SrvrMode};
use crate::sim::history::Record;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the servers are asked.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// A server that does not answer in this time keeps its last known role.
const SRVR_TIMEOUT: Duration = Duration::from_millis(500);

/// Whether the runner last left a server running (the poller asks only those).
pub type Running = Arc<Mutex<BTreeMap<String, bool>>>;

/// The role a `srvr` answer names, in the simulator's words.
pub fn role_name(mode: SrvrMode) -> &'static str {
    match mode {
        SrvrMode::Leader | SrvrMode::Standalone => "leading",
        SrvrMode::Follower => "following",
        SrvrMode::Observer => "observing",
        SrvrMode::NotServing => "looking",
    }
}

/// Asks one server for its role now (`None`: no answer in time, or not serving).
pub fn ask_role(addr: SocketAddr, timeout: Duration) -> Option<&'static str> {
    let answer = four_letter::ask(addr, "srvr", timeout).ok()?;
    four_letter::parse_srvr(&answer)
        .ok()
        .map(|status| role_name(status.mode))
}

/// Polls every server until stopped, recording each change of role.
pub struct RolePoller {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    last: Arc<Mutex<BTreeMap<String, &'static str>>>,
}

impl RolePoller {
    pub fn start(
        servers: Vec<(String, SocketAddr)>,
        running: Running,
        recorder: Recorder,
    ) -> std::io::Result<RolePoller> {
        let stop = Arc::new(AtomicBool::new(false));
        let last: Arc<Mutex<BTreeMap<String, &'static str>>> = Arc::default();
        let thread = {
            let (stop, last) = (stop.clone(), last.clone());
            std::thread::Builder::new()
                .name("zk-roles".into())
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        for (name, addr) in &servers {
                            let up = running
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get(name)
                                .copied()
                                .unwrap_or(false);
                            if !up {
                                continue;
                            }
                            let Some(role) = ask_role(*addr, SRVR_TIMEOUT) else {
                                continue;
                            };
                            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
                            if last.get(name) != Some(&role) {
                                last.insert(name.clone(), role);
                                recorder.record(Record::Role {
                                    host: name.as_str().into(),
                                    role: role.to_string(),
                                });
                            }
                        }
                        std::thread::sleep(POLL_INTERVAL);
                    }
                })?
        };
        Ok(RolePoller {
            stop,
            thread: Some(thread),
            last,
        })
    }

    /// The server went down: its next role after a start is new.
    pub fn forget(&self, name: &str) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
    }
}

impl Drop for RolePoller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
