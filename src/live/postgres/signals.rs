//! Signalling a whole PostgreSQL server: the postmaster and every process it started.
//!
//! The postmaster leads the process group the [`Launcher`](crate::live::process::Launcher)
//! gives it, but every child it forks (backends, the checkpointer, WAL senders and receivers,
//! ...) calls `setsid()` at birth, so a signal to the postmaster's group reaches the postmaster
//! alone. A crash that kills only the postmaster is not a crash: its backends notice the death
//! a moment later and exit one by one, and a backend waiting for synchronous replication keeps
//! its row locks meanwhile. So a crash or a pause first stops the postmaster (it can fork no
//! more), then signals each child's own group, found through `/proc`, then the postmaster.

use std::io;
use std::time::{Duration, Instant};

/// The direct children of `pid`, from `/proc/*/stat`.
pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&candidate| parent_of(candidate) == Some(pid))
        .collect()
}

/// The parent and the one-letter state of `pid`, from `/proc/<pid>/stat`.
fn stat_of(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses, the last ')' ends it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_of(pid).map(|(_, ppid)| ppid)
}

/// Whether `pid` is gone or a zombie (a zombie holds no memory and no locks).
fn is_dead(pid: u32) -> bool {
    !matches!(stat_of(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

/// Sends `signal` to the group `pid` leads, or to `pid` alone if it leads none.
fn signal_group_or_process(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: plain syscalls on processes this harness started (or their children).
    if unsafe { libc::kill(-pid, signal) } == 0 {
        return Ok(());
    }
    if unsafe { libc::kill(pid, signal) } == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::ESRCH) {
        Ok(())
    } else {
        Err(err)
    }
}

/// SIGKILL to the postmaster `pid` and every child it has, as a power cut would end them.
/// Returns once the children are gone (or zombies), at most after `settle`; the caller reaps
/// the postmaster itself.
pub(crate) fn crash(pid: u32, settle: Duration) -> io::Result<()> {
    // Stopped, the postmaster forks no child between the listing and the kills.
    signal_group_or_process(pid, libc::SIGSTOP)?;
    let children = children_of(pid);
    for &child in &children {
        signal_group_or_process(child, libc::SIGKILL)?;
    }
    signal_group_or_process(pid, libc::SIGKILL)?;
    // A new postmaster refuses to start while an old process still maps the shared memory.
    let deadline = Instant::now() + settle;
    while !children.iter().all(|&child| is_dead(child)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// SIGSTOP to the postmaster `pid` and every child: the whole server freezes, its sockets open.
pub(crate) fn pause(pid: u32) -> io::Result<()> {
    signal_group_or_process(pid, libc::SIGSTOP)?;
    for child in children_of(pid) {
        signal_group_or_process(child, libc::SIGSTOP)?;
    }
    Ok(())
}

/// SIGCONT to every child of the postmaster `pid`, then to the postmaster.
pub(crate) fn resume(pid: u32) -> io::Result<()> {
    for child in children_of(pid) {
        signal_group_or_process(child, libc::SIGCONT)?;
    }
    signal_group_or_process(pid, libc::SIGCONT)
}

/// Asks the postmaster `pid` alone for a fast shutdown (SIGINT): it ends the backends itself.
pub(crate) fn fast_shutdown(pid: u32) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: plain syscall on a process this harness started.
    if unsafe { libc::kill(pid, libc::SIGINT) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
