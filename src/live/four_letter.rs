//! ZooKeeper's four-letter-word admin commands (`srvr`, `ruok`, `mntr`) over plain TCP.
//!
//! The server reads the four bytes, writes its answer and closes the connection. The harness
//! whitelists every command (`4lw.commands.whitelist=*`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `command` to the server at `addr` and returns its whole answer. `timeout` bounds the
/// connect and each read, so a paused (SIGSTOPped) server, whose kernel still accepts the
/// connection, answers with a timeout instead of a hang.
pub(crate) fn ask(addr: SocketAddr, command: &str, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(command.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// What `srvr` says about a server's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SrvrMode {
    Leader,
    Follower,
    Observer,
    Standalone,
    /// The server answered but is not in a quorum ("not currently serving requests").
    NotServing,
}

/// The parts of a `srvr` answer the harness uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SrvrStatus {
    pub mode: SrvrMode,
    /// The last zxid the server processed (absent when it is not serving).
    pub zxid: Option<i64>,
}

/// Parses a `srvr` answer. An answer that is neither a status nor the not-serving notice is an
/// error (with the answer in the message).
pub(crate) fn parse_srvr(answer: &str) -> io::Result<SrvrStatus> {
    if answer.contains("not currently serving requests") {
        return Ok(SrvrStatus {
            mode: SrvrMode::NotServing,
            zxid: None,
        });
    }
    let field = |name: &str| {
        answer
            .lines()
            .find_map(|line| line.strip_prefix(name).map(str::trim))
    };
    let mode = match field("Mode:") {
        Some("leader") => SrvrMode::Leader,
        Some("follower") => SrvrMode::Follower,
        Some("observer") => SrvrMode::Observer,
        Some("standalone") => SrvrMode::Standalone,
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected srvr answer: {answer:?}"),
            ));
        }
    };
    let zxid = field("Zxid:")
        .and_then(|z| z.strip_prefix("0x"))
        .and_then(|hex| i64::from_str_radix(hex, 16).ok());
    Ok(SrvrStatus { mode, zxid })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_leader_answer() {
        let answer = "Zookeeper version: 3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC\n\
                      Latency min/avg/max: 0/0.0/0\nReceived: 1\nSent: 0\nConnections: 1\n\
                      Outstanding: 0\nZxid: 0x100000003\nMode: leader\nNode count: 5\n";
        let status = parse_srvr(answer).unwrap();
        assert_eq!(status.mode, SrvrMode::Leader);
        assert_eq!(status.zxid, Some(0x1_0000_0003));
    }

    #[test]
    fn parses_not_serving_and_rejects_garbage() {
        let status =
            parse_srvr("This ZooKeeper instance is not currently serving requests\n").unwrap();
        assert_eq!(status.mode, SrvrMode::NotServing);
        assert!(parse_srvr("imok").is_err());
    }
}
