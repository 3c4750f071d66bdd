//! Finding the ZooKeeper server and a Java runtime on this machine.
//!
//! The harness runs the server classes straight from Debian's `zookeeper` package (3.8.0 on
//! Debian 12), which puts `zookeeper.jar` under `/usr/share/java` with a manifest `Class-Path`
//! naming its dependencies, and pulls in `default-jre`. The package does not start a server by
//! itself (that is the separate `zookeeperd` package).

use super::error::HarnessError;
use std::path::{Path, PathBuf};

/// What to run to get the server onto a fresh Debian machine.
pub const INSTALL_HINT: &str = "apt-get update && apt-get install -y zookeeper";

/// The server jar from Debian's `libzookeeper-java` (its manifest names the dependency jars).
const DEBIAN_SERVER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// An SLF4J binding that writes to stderr, from `libslf4j-java` (a dependency of the package).
/// Without a binding the server logs nothing, and a failed start would be a mystery.
const DEBIAN_SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// The server's main class, as the package's own scripts use it.
pub(crate) const QUORUM_PEER_MAIN: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";

/// A located ZooKeeper installation: the `java` to run and the class path of the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkInstall {
    pub java: PathBuf,
    pub classpath: String,
}

impl ZkInstall {
    /// Finds the Debian package's jars and a `java` (`$JAVA_HOME/bin/java`, else on `PATH`).
    /// Fails with an error that says how to install what is missing.
    pub fn locate() -> Result<ZkInstall, HarnessError> {
        ZkInstall::locate_with(Path::new(DEBIAN_SERVER_JAR))
    }

    /// [`locate`](Self::locate) with the server jar at `server_jar`.
    fn locate_with(server_jar: &Path) -> Result<ZkInstall, HarnessError> {
        if !server_jar.is_file() {
            return Err(HarnessError::NotInstalled(format!(
                "ZooKeeper is not installed ({} is missing); install Debian's package with \
                 `{INSTALL_HINT}`",
                server_jar.display()
            )));
        }
        let java = find_java().ok_or_else(|| {
            HarnessError::NotInstalled(format!(
                "no `java` found ($JAVA_HOME/bin/java or on PATH); Debian's zookeeper package \
                 brings one: `{INSTALL_HINT}`"
            ))
        })?;
        let mut classpath = server_jar.display().to_string();
        if Path::new(DEBIAN_SLF4J_SIMPLE_JAR).is_file() {
            classpath.push(':');
            classpath.push_str(DEBIAN_SLF4J_SIMPLE_JAR);
        }
        Ok(ZkInstall { java, classpath })
    }
}

fn find_java() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.is_file() {
            return Some(java);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_package_is_an_error_that_says_how_to_install_it() {
        let err = ZkInstall::locate_with(Path::new("/nonexistent/zookeeper.jar")).unwrap_err();
        assert!(matches!(err, HarnessError::NotInstalled(_)));
        let message = err.to_string();
        assert!(
            message.contains("apt-get install -y zookeeper"),
            "{message}"
        );
        assert!(message.contains("/nonexistent/zookeeper.jar"), "{message}");
    }
}
