//! Node processes: a node program (`splitbrain node`, or any program speaking the node
//! protocol, `docs/node-protocol.md`) started with the scenario's settings in its
//! environment, driven through its control interface (commands on stdin), followed through
//! its event lines (stdout), its log kept (stderr).

use super::events::{Hello, NodeEvents, NodeLine};
use super::history::Recorder;
use super::registry::Registry;
use crate::live::process::{self, Launcher};
use crate::sim::history::{Record, WriteOutcome};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// How a node process is started (every incarnation the same, but for its incarnation number
/// and the operator state it must start in).
#[derive(Clone, Debug)]
pub struct NodeLaunch {
    /// The program's name (`splitbrain`, `curator-latch`, …) and command line.
    pub program: String,
    pub argv: Vec<String>,
    pub pair: String,
    pub name: String,
    /// The protocol's environment but the per-incarnation variables.
    pub env: Vec<(String, String)>,
    pub log_dir: PathBuf,
}

/// What the run learns from the nodes besides records: findings and the writes they gave up on.
#[derive(Clone, Debug, Default)]
pub struct NodeFindings {
    inner: Arc<Mutex<FindingsInner>>,
}

#[derive(Debug, Default)]
struct FindingsInner {
    findings: Vec<String>,
    /// (run time, pair, node, token, write) of writes a node reported failed.
    failed_writes: Vec<(std::time::Duration, String, String, i64, u64)>,
    /// (pair, node, write) -> the term token a program without fencing tokens announced the
    /// write under: its database row has no token of its own.
    attempt_tokens: std::collections::BTreeMap<(String, String, u64), i64>,
}

impl NodeFindings {
    pub fn add(&self, finding: String) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .findings
            .push(finding);
    }

    /// The term token under which a program without fencing tokens announced `write`.
    pub fn attempt_token(&self, pair: &str, node: &str, write: u64) -> Option<i64> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .attempt_tokens
            .get(&(pair.to_string(), node.to_string(), write))
            .copied()
    }

    pub fn findings(&self) -> Vec<String> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .findings
            .clone()
    }

    /// The writes nodes gave up on, as `Unavailable` verdicts, except those the database has
    /// a row for (`has_row(node, write)`): a write whose client timed out may still commit.
    pub fn unavailable_writes(
        &self,
        has_row: impl Fn(&str, u64) -> bool,
    ) -> Vec<(std::time::Duration, Record)> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failed_writes
            .iter()
            .filter(|(_, _, node, _, write)| !has_row(node, *write))
            .map(|(at, pair, node, token, write)| {
                (
                    *at,
                    Record::WriteResult {
                        pair: pair.as_str().into(),
                        node: node.as_str().into(),
                        token: *token,
                        write: *write,
                        outcome: WriteOutcome::Unavailable,
                    },
                )
            })
            .collect()
    }
}

/// One node host: its launch settings and its current process, if any.
pub struct NodeHost {
    launch: NodeLaunch,
    incarnation: u64,
    process: Option<Running>,
    recorder: Recorder,
    findings: NodeFindings,
    /// The running process's hello line, once it printed it.
    hello: Arc<Mutex<Option<Hello>>>,
    /// Set once any incarnation was promoted.
    promoted: Arc<AtomicBool>,
}

struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Set before the runner kills the process, so its end is not a finding.
    expected_end: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl NodeHost {
    pub fn new(launch: NodeLaunch, recorder: Recorder, findings: NodeFindings) -> NodeHost {
        NodeHost {
            launch,
            incarnation: 0,
            process: None,
            recorder,
            findings,
            hello: Arc::default(),
            promoted: Arc::default(),
        }
    }

    pub fn program(&self) -> &str {
        &self.launch.program
    }

    /// Waits up to `timeout` for the node's first promotion; whether it came.
    pub fn wait_promoted(&self, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while !self.promoted.load(Ordering::SeqCst) {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        true
    }

    /// The running process's hello, if it said it.
    pub fn hello(&self) -> Option<Hello> {
        self.hello.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits up to `timeout` for the running process's hello line.
    pub fn wait_hello(&self, timeout: std::time::Duration) -> Result<Hello, String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(hello) = self.hello() {
                return Ok(hello);
            }
            let ended = self
                .process
                .as_ref()
                .and_then(|p| p.reader.as_ref())
                .is_none_or(|r| r.is_finished());
            if ended || std::time::Instant::now() >= deadline {
                let what = if ended {
                    "exited (or closed its stdout) before its hello line"
                } else {
                    "printed no hello line in time"
                };
                return Err(format!(
                    "node {} ({}) {what} (docs/node-protocol.md); its output: {}, its log: {}",
                    self.launch.name,
                    self.launch.program,
                    self.events_path().display(),
                    self.log_path().display()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.launch
            .log_dir
            .join(format!("{}.log", self.launch.name))
    }

    pub fn events_path(&self) -> PathBuf {
        self.launch
            .log_dir
            .join(format!("{}.events.jsonl", self.launch.name))
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    /// Starts a new incarnation. `extra` are per-start variables (the operator state it must
    /// start in: priority, relinquished, broken health links).
    pub fn start(
        &mut self,
        launcher: &Launcher,
        registry: &Registry,
        extra: &[(String, String)],
    ) -> io::Result<()> {
        if self.process.is_some() {
            return Err(io::Error::other(format!("{} is running", self.launch.name)));
        }
        self.incarnation += 1;
        *self.hello.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let log = append(&self.log_path())?;
        let (program, args) = self
            .launch
            .argv
            .split_first()
            .ok_or_else(|| io::Error::other("a node program needs a command"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&self.launch.log_dir)
            .envs(self.launch.env.iter().map(|(k, v)| (k, v)))
            .env("SPLITBRAIN_INCARNATION", self.incarnation.to_string())
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = launcher.launch(command)?;
        registry.group(child.id(), &format!("node {}", self.launch.name));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take();
        let expected_end = Arc::new(AtomicBool::new(false));
        let reader = {
            let events = append(&self.events_path())?;
            let sinks = Sinks {
                recorder: self.recorder.clone(),
                findings: self.findings.clone(),
                hello: self.hello.clone(),
                promoted: self.promoted.clone(),
                program: self.launch.program.clone(),
            };
            let expected = expected_end.clone();
            let (pair, name) = (self.launch.pair.clone(), self.launch.name.clone());
            let log = self.log_path();
            std::thread::Builder::new()
                .name(format!("events-{name}"))
                .spawn(move || {
                    follow(stdout, events, NodeEvents::new(&pair, &name), &sinks);
                    if !expected.load(Ordering::SeqCst) {
                        sinks.findings.add(format!(
                            "node {name} ({}) ended by itself (its log: {})",
                            sinks.program,
                            log.display()
                        ));
                    }
                })?
        };
        self.process = Some(Running {
            child,
            stdin,
            expected_end,
            reader: Some(reader),
        });
        Ok(())
    }

    /// Sends one control command (a line on the node's stdin). A program that does not
    /// report its candidacy has it recorded here, as the runner asked for it.
    pub fn send(&mut self, command: &str) -> io::Result<()> {
        let reports_candidacy = self.hello().is_some_and(|h| h.supports("candidacy"));
        if !reports_candidacy && let Some(standing) = standing_after(command) {
            self.recorder.record(Record::Candidacy {
                pair: self.launch.pair.as_str().into(),
                node: self.launch.name.as_str().into(),
                standing,
            });
        }
        let running = self
            .process
            .as_mut()
            .ok_or_else(|| io::Error::other(format!("{} is not running", self.launch.name)))?;
        let stdin = running
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("the node's stdin is closed"))?;
        stdin.write_all(format!("{command}\n").as_bytes())?;
        stdin.flush()
    }

    /// SIGKILL of the node's process group (a crash: the kernel resets its connections).
    pub fn kill(&mut self) -> io::Result<()> {
        let mut running = self
            .process
            .take()
            .ok_or_else(|| io::Error::other(format!("{} is not running", self.launch.name)))?;
        running.expected_end.store(true, Ordering::SeqCst);
        // SIGKILL ends a stopped (paused) group as well.
        process::kill_and_reap(&mut running.child)?;
        if let Some(reader) = running.reader.take() {
            let _ = reader.join();
        }
        Ok(())
    }

    pub fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        let running = self
            .process
            .as_ref()
            .ok_or_else(|| io::Error::other(format!("{} is not running", self.launch.name)))?;
        process::signal_group(running.child.id(), signal)
    }
}

impl Drop for NodeHost {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Whether a command leaves a node standing (`rejoin`) or not (`relinquish`).
fn standing_after(command: &str) -> Option<bool> {
    match command.trim() {
        "relinquish" => Some(false),
        "rejoin" => Some(true),
        _ => None,
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// Where what a node's lines say goes.
struct Sinks {
    recorder: Recorder,
    findings: NodeFindings,
    hello: Arc<Mutex<Option<Hello>>>,
    promoted: Arc<AtomicBool>,
    program: String,
}

/// Reads a node's stdout until it closes: each line to the events file and, as records, to the
/// history (stamped with the line's own monotonic reading, else with its arrival).
fn follow(stdout: impl io::Read, mut events_file: File, mut events: NodeEvents, sinks: &Sinks) {
    let Sinks {
        recorder,
        findings,
        hello,
        promoted,
        program,
    } = sinks;
    let clock = recorder.clock();
    for line in BufReader::new(stdout).split(b'\n') {
        let Ok(bytes) = line else { break };
        let arrived_ns = super::history::mono_ns();
        let arrived = clock.now();
        let _ = events_file
            .write_all(&bytes)
            .and_then(|()| events_file.write_all(b"\n"));
        let text = String::from_utf8_lossy(&bytes);
        if text.trim().is_empty() {
            continue;
        }
        match events.line(&text, arrived_ns) {
            NodeLine::Hello(said) => {
                *hello.lock().unwrap_or_else(|p| p.into_inner()) = Some(said);
            }
            NodeLine::Records {
                mono_ns,
                records,
                failed_write,
                untokened_attempt,
            } => {
                let at = mono_ns.map_or(arrived, |ns| clock.at_mono(ns));
                for record in records {
                    if matches!(record, Record::Promoted { .. }) {
                        promoted.store(true, Ordering::SeqCst);
                    }
                    recorder.record_at(at, record);
                }
                let mut inner = findings.inner.lock().unwrap_or_else(|p| p.into_inner());
                if let Some((write, token)) = untokened_attempt {
                    inner.attempt_tokens.insert(
                        (events.pair().to_string(), events.node().to_string(), write),
                        token,
                    );
                }
                if let Some((token, write)) = failed_write {
                    inner.failed_writes.push((
                        at,
                        events.pair().to_string(),
                        events.node().to_string(),
                        token,
                        write,
                    ));
                }
            }
            NodeLine::Garbage { reason } => {
                findings.add(format!("node {} ({program}): {reason}", events.node()))
            }
        }
    }
    events.process_ended();
}
