//! The timeouts each client library derives from the session timeout T.
//!
//! Pure arithmetic, so the rules can be checked against the libraries' sources one by one.

use std::time::Duration;

/// zookeeper-client 0.11.2 (`session/mod.rs`, `calc_tick_timeout` and `reset_timeout`), with no
/// connection timeout configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RustTimings {
    /// Period of the liveness tick: T/20 (at least 1 ms). Every check happens on a tick.
    pub tick: Duration,
    /// A ping goes out on the first tick at least this long after the last send: 3 ticks,
    /// at most 10 s.
    pub ping_after: Duration,
    /// The connection is given up on the first tick at least this long after the last
    /// receive; also the TCP connect timeout: 8 ticks (2/5·T).
    pub connection_timeout: Duration,
    /// The session is expired client-side when a reconnect has not succeeded this long after
    /// the last receive: 7/5 of max(T, connection timeout).
    pub expire_after: Duration,
}

impl RustTimings {
    pub fn for_session_timeout(timeout: Duration) -> Self {
        let tick = (timeout / 20).max(Duration::from_millis(1));
        let connection_timeout = tick * 8;
        let session_timeout = timeout.max(connection_timeout);
        RustTimings {
            tick,
            ping_after: Duration::from_secs(10).min(tick * 3),
            connection_timeout,
            expire_after: session_timeout * 7 / 5,
        }
    }
}

/// The Java client of ZooKeeper 3.8 (`ClientCnxn.SendThread.run`, `onConnected`). Java computes
/// these in integer milliseconds, and so does this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JavaTimings {
    /// Connected: the connection is given up after this long without receiving (2/3·T).
    pub read_timeout: Duration,
    /// Connecting: the attempt is given up after this long without receiving (T / hosts).
    pub connect_timeout: Duration,
    /// A ping goes out once nothing was sent for this long.
    pub ping_idle: Duration,
}

/// `MAX_SEND_PING_INTERVAL`: a ping at least every 10 s whatever T is.
const JAVA_MAX_PING_INTERVAL_MS: u64 = 10_000;

impl JavaTimings {
    pub fn for_session_timeout(timeout: Duration, hosts: usize) -> Self {
        let t = timeout.as_millis() as u64;
        let read_timeout = t * 2 / 3;
        let connect_timeout = t / hosts.max(1) as u64;
        JavaTimings {
            read_timeout: Duration::from_millis(read_timeout),
            connect_timeout: Duration::from_millis(connect_timeout),
            ping_idle: Duration::from_millis(java_ping_idle_ms(read_timeout / 2)),
        }
    }
}

/// The idle-send time at which `timeToNextPing = readTimeout/2 − idleSend − (idleSend > 1000 ?
/// 1000 : 0)` reaches zero, or `idleSend > 10000` holds, whichever comes first.
fn java_ping_idle_ms(half_read_timeout: u64) -> u64 {
    let by_formula = if half_read_timeout <= 1000 {
        half_read_timeout
    } else {
        // Past 1 s idle the 1 s subtraction applies; it applies only once idle > 1000 ms.
        (half_read_timeout - 1000).max(1001)
    };
    by_formula.min(JAVA_MAX_PING_INTERVAL_MS + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn rust_timings_follow_the_crate_for_the_default_timeout() {
        let t = RustTimings::for_session_timeout(Duration::from_secs(6));
        assert_eq!(t.tick, ms(300));
        assert_eq!(t.ping_after, ms(900));
        assert_eq!(t.connection_timeout, ms(2400));
        assert_eq!(t.expire_after, ms(8400));
    }

    #[test]
    fn rust_ping_is_capped_at_ten_seconds() {
        let t = RustTimings::for_session_timeout(Duration::from_secs(100));
        assert_eq!(t.tick, ms(5000));
        assert_eq!(t.ping_after, Duration::from_secs(10));
    }

    #[test]
    fn java_timings_follow_client_cnxn() {
        let t = JavaTimings::for_session_timeout(Duration::from_secs(6), 3);
        assert_eq!(t.read_timeout, ms(4000));
        assert_eq!(t.connect_timeout, ms(2000));
        // readTimeout/2 = 2000: ping once idle > 1000 ms.
        assert_eq!(t.ping_idle, ms(1001));

        let t = JavaTimings::for_session_timeout(Duration::from_secs(30), 5);
        assert_eq!(t.read_timeout, ms(20_000));
        assert_eq!(t.connect_timeout, ms(6000));
        assert_eq!(t.ping_idle, ms(9000));

        let t = JavaTimings::for_session_timeout(Duration::from_secs(60), 5);
        assert_eq!(
            t.ping_idle,
            ms(10_001),
            "never more than 10 s between pings"
        );

        let t = JavaTimings::for_session_timeout(ms(1200), 1);
        assert_eq!(t.ping_idle, ms(400), "short timeouts: no 1 s subtraction");
    }
}
