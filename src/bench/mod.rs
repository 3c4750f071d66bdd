//! Benchmarks of the simulator itself: how fast a world runs and how much memory it takes.
//! They measure the machine they run on (wall clock, the process's resource usage), so they
//! live outside the simulated code.

pub mod scale;

/// How this binary was built, for the figures to say: `scripts/pgo-build` labels its builds
/// (profile-guided optimisation takes about a tenth of the instructions off the scale world);
/// any other optimised build is the `perf` or `release` profile.
pub const BUILD: &str = match option_env!("SPLITBRAIN_BUILD") {
    Some(label) => label,
    None if cfg!(debug_assertions) => "debug (unoptimised)",
    None => "perf or release profile, no profile-guided optimisation",
};

/// Peak resident memory of this process so far (`ru_maxrss`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    usage().map(|u| u.ru_maxrss as u64 * 1024)
}

/// CPU time (user + system) this process has used so far, in seconds. On a shared machine it
/// says more about the simulator's cost than the wall clock does.
pub fn cpu_seconds() -> Option<f64> {
    let u = usage()?;
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(u.ru_utime) + seconds(u.ru_stime))
}

fn usage() -> Option<libc::rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage only writes into the struct we pass; RUSAGE_SELF is always valid.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
    // SAFETY: on success the kernel filled the whole struct (it was zeroed before anyway).
    (rc == 0).then(|| unsafe { usage.assume_init() })
}
