//! Finding Debian's PostgreSQL 15 binaries and the system user that must run them.
//!
//! The harness runs the server straight from Debian's `postgresql-15` package, whose binaries
//! live under `/usr/lib/postgresql/15/bin` (not on `PATH`: the `pg_wrapper` scripts on `PATH`
//! pick a version by cluster configuration the harness does not use). The package's own
//! service cluster (port 5432) is never touched: every harness cluster lives in a scratch
//! directory on a port of its own.
//!
//! PostgreSQL refuses to run as root. When the harness runs as root (CI, these machines) every
//! server process is started as the package's `postgres` user, with its directories owned by
//! that user; otherwise it runs as the current user.

use super::error::PgError;
use std::ffi::CStr;
use std::path::{Path, PathBuf};

/// What to run to get PostgreSQL onto a fresh Debian machine.
pub const PG_INSTALL_HINT: &str = "apt-get update && apt-get install -y postgresql";

/// Where Debian's `postgresql-15` puts the server binaries.
const DEBIAN_PG15_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The user that runs the server processes (and owns their files).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerUser {
    pub uid: u32,
    pub gid: u32,
}

/// A located PostgreSQL 15 installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgInstall {
    pub bin_dir: PathBuf,
    pub initdb: PathBuf,
    pub postgres: PathBuf,
    pub pg_ctl: PathBuf,
    pub pg_basebackup: PathBuf,
    /// `Some` when the harness runs as root: the `postgres` user the servers must run as.
    /// `None`: they run as the current (unprivileged) user.
    pub run_as: Option<ServerUser>,
}

impl PgInstall {
    /// Finds the Debian package's binaries. Fails with an error that says how to install them.
    pub fn locate() -> Result<PgInstall, PgError> {
        PgInstall::locate_in(Path::new(DEBIAN_PG15_BIN))
    }

    /// [`locate`](Self::locate) with the binaries in `bin_dir`.
    pub fn locate_in(bin_dir: &Path) -> Result<PgInstall, PgError> {
        let binary = |name: &str| -> Result<PathBuf, PgError> {
            let path = bin_dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(PgError::NotInstalled(format!(
                    "PostgreSQL 15 is not installed ({} is missing); install Debian's package \
                     with `{PG_INSTALL_HINT}`",
                    path.display()
                )))
            }
        };
        let install = PgInstall {
            bin_dir: bin_dir.to_path_buf(),
            initdb: binary("initdb")?,
            postgres: binary("postgres")?,
            pg_ctl: binary("pg_ctl")?,
            pg_basebackup: binary("pg_basebackup")?,
            run_as: server_user()?,
        };
        Ok(install)
    }

    /// Another binary of the installation (`pg_rewind`, `pg_controldata`, ...).
    pub fn binary(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// As root, the package's `postgres` user; otherwise `None` (run as ourselves).
fn server_user() -> Result<Option<ServerUser>, PgError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let name = c"postgres";
    lookup_user(name).map(Some).ok_or_else(|| {
        PgError::NotInstalled(format!(
            "running as root, and PostgreSQL refuses to run as root, but there is no `postgres` \
             user to run it as; Debian's package creates it: `{PG_INSTALL_HINT}`"
        ))
    })
}

fn lookup_user(name: &CStr) -> Option<ServerUser> {
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 4096];
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: getpwnam_r writes into `entry` and `buf`, both live and sized as declared.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return None;
    }
    Some(ServerUser {
        uid: entry.pw_uid,
        gid: entry.pw_gid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_package_is_an_error_that_says_how_to_install_it() {
        let err = PgInstall::locate_in(Path::new("/nonexistent/pg/bin")).unwrap_err();
        assert!(matches!(err, PgError::NotInstalled(_)));
        let message = err.to_string();
        assert!(message.contains(PG_INSTALL_HINT), "{message}");
        assert!(message.contains("/nonexistent/pg/bin/initdb"), "{message}");
    }
}
