//! Server processes: starting them so that none outlives the harness, signalling their process
//! groups, and noticing when one exits by itself.

use super::error::{HarnessError, io_error};
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread;

/// Starts server processes from one dedicated thread.
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child ends, not the process. The
/// harness may be driven from short-lived threads (a tokio blocking pool, a scoped thread), so
/// every spawn goes through this thread, which lives exactly as long as the ensemble.
pub(crate) struct Launcher {
    requests: Option<mpsc::Sender<(Command, mpsc::Sender<io::Result<Child>>)>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Launcher {
    pub(crate) fn new() -> Result<Launcher, HarnessError> {
        let (requests, inbox) = mpsc::channel::<(Command, mpsc::Sender<io::Result<Child>>)>();
        let thread = thread::Builder::new()
            .name("zk-launcher".into())
            .spawn(move || {
                for (mut command, reply) in inbox {
                    let _ = reply.send(command.spawn());
                }
            })
            .map_err(io_error("starting the launcher thread"))?;
        Ok(Launcher {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Starts `command` as the leader of a new process group that is killed if this process
    /// dies.
    pub(crate) fn launch(&self, mut command: Command) -> io::Result<Child> {
        // Its own process group, so signals reach every process the server might fork.
        command.process_group(0);
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
        // calls (prctl, getppid).
        unsafe {
            command.pre_exec(move || {
                // Dies with the thread that launched it (the launcher thread, which lives as
                // long as the ensemble), so an aborted test run leaves no orphan server.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::other("parent exited before exec"));
                }
                Ok(())
            });
        }
        let gone = || io::Error::other("launcher thread is gone");
        let (reply, answer) = mpsc::channel();
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send((command, reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends `signal` to the process group led by `pid` (each server leads its own group).
pub(crate) fn signal_group(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pgid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: plain syscall on a process group this harness created.
    if unsafe { libc::kill(-pgid, signal) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn kill_and_reap(child: &mut Child) -> io::Result<()> {
    let signalled = signal_group(child.id(), libc::SIGKILL);
    // The group may already be gone (the server exited by itself): reap regardless.
    child.wait()?;
    signalled.or_else(|err| {
        if err.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(err)
        }
    })
}

/// If the (unreaped) child `pid` has exited, its status, without reaping it.
pub(crate) fn exit_status(pid: u32) -> Option<String> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: waitid on our own child with WNOWAIT leaves it reapable by `Child::wait`.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid/si_status are valid for the CLD_* codes waitid reports.
    if rc != 0 || unsafe { info.si_pid() } == 0 {
        return None;
    }
    let status = unsafe { info.si_status() };
    Some(match info.si_code {
        libc::CLD_EXITED => format!("exit code {status}"),
        _ => format!("killed by signal {status}"),
    })
}
