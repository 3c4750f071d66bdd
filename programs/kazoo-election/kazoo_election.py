#!/usr/bin/python3
"""kazoo-election: a splitbrain node program (node protocol version 1) built on kazoo's
``Election`` recipe, as kazoo's documentation teaches it.

It is meant to show what the recipe gives a hot/cold pair *as written*, so it adds no safety of
its own. It does what the documentation shows::

    zk = KazooClient(hosts=..., timeout=session_timeout_seconds, auth_data=[("digest", ...)])
    zk.start()
    election = zk.Election("/splitbrain/<pair>/election", "<node>")
    election.run(leader_function)

and the leader function writes to the pair's database every SPLITBRAIN_WRITE_INTERVAL_MS until
it is told to stop (``relinquish`` or ``quit``). It returns for nothing else.

What the recipe does NOT do, and what a user of it would have to add to be safe:

* Stop the work when the session is in doubt. ``Election.run`` holds a ``Lock`` (an ephemeral
  sequential znode) and calls the leader function; nothing interrupts that function when the
  session is SUSPENDED (connection lost: the session may be expiring on the server right now)
  or LOST (expired: the znode is gone and another contender has been elected). A user must add
  a connection state listener (``zk.add_listener``) that stops the leader function on SUSPENDED
  and LOST, and the leader function must check it before every write. Without it this program
  goes on writing after its session expired, beside the new master: two masters, and stale
  writes. A client that is cut off from ZooKeeper never even hears LOST until it reconnects; it
  stays SUSPENDED, so stopping on SUSPENDED (not only LOST) is what bounds the overlap.
* Fencing tokens. Even with that listener, a write sent just before a pause or a partition can
  reach the database after the session expired. Only the database can refuse it: take a token
  that grows with every grant (for example the ``czxid`` of the lock's znode, or a counter
  bumped in ZooKeeper on promotion), send it with every write, and have the database keep the
  newest token it has seen and refuse older ones (splitbrain's ``splitbrain_write``). This
  program writes through ``splitbrain_write_unfenced``: the database takes every write.
* Priorities. The recipe is first come, first served (lowest sequence number wins); it has no
  notion of a preferred node and never hands over to a better one. ``priority N`` is refused.
* A bound on a long GC or stop-the-world pause (SIGSTOP here). A paused process cannot run any
  listener. When it resumes it goes on with the write it was about to make before kazoo's
  connection thread has even noticed the session is gone. A user would need a local lease:
  stop acting as master once (time since the last heard-from-ZooKeeper) exceeds a safe part of
  the session timeout, checked against the monotonic clock right before each write; and still
  fencing, since a pause can fall between that check and the write.

Known kazoo 2.8.0 behaviours this program lives with, as a user would:

* ``Election.cancel()`` while the leader function runs does not stop it, and leaves the lock's
  ``cancelled`` flag set: running the same ``Election`` again returns at once without standing.
  So ``rejoin`` makes a new ``zk.Election(...)`` (as a user re-entering the election would).
* The session timeout asked for is negotiated by the server (between 2 and 20 tick times).
* Reconnects back off exponentially (kazoo's default connection retry: 0.1 s doubling, up to
  an hour between attempts). After a ZooKeeper outage of 30 s the clients came back 15 s and
  35 s after the server did: longer than the session timeout, so their sessions had expired
  and the running leader function, its znode gone, wrote on beside the next one elected.

Settings come from the environment (see docs/node-protocol.md). Events are JSON lines on stdout,
commands lines on stdin: quit, relinquish, rejoin. SIGTERM (and SIGINT) mean quit.

Run with the system interpreter, which has Debian's python3-kazoo and python3-psycopg2:
``/usr/bin/python3 kazoo_election.py``.
"""

import itertools
import json
import logging
import os
import queue
import select
import signal
import sys
import threading
import time

# Imported before the hello only to name kazoo's version in it; connecting comes after.
from kazoo.client import KazooClient
from kazoo.version import __version__ as KAZOO_VERSION
import psycopg2
import psycopg2.extensions

PROTOCOL = 1
PROGRAM = "kazoo-election"
VERSION = "kazoo " + KAZOO_VERSION

# How long one write may take before it is given up on (the protocol asks for about a second),
# and how long one database host may take to accept a connection. The database cancels the
# statement after 1000 ms itself (statement_timeout), a definite "not written"; the client-side
# deadline, a little later so that the server's answer usually comes first, covers a network
# that swallows packets silently.
WRITE_TIMEOUT_S = 1.25
CONNECT_TIMEOUT_S = 1.0

WRITE_SQL = "SELECT outcome FROM splitbrain_write_unfenced(%s, %s, %s)"


class Config:
    """The settings from the environment."""

    def __init__(self, env):
        def need(name):
            value = env.get(name, "")
            if not value:
                raise ValueError(f"{name} is not set")
            return value

        self.zk_hosts = need("SPLITBRAIN_ZK")
        self.zk_root = need("SPLITBRAIN_ZK_ROOT").rstrip("/")
        self.zk_auth = env.get("SPLITBRAIN_ZK_AUTH") or None
        self.pair = need("SPLITBRAIN_PAIR")
        self.node = need("SPLITBRAIN_NODE")
        self.session_timeout_s = int(need("SPLITBRAIN_SESSION_TIMEOUT_MS")) / 1000.0
        self.db_urls = [u.strip() for u in need("SPLITBRAIN_DATABASE").split(",") if u.strip()]
        if not self.db_urls:
            raise ValueError("SPLITBRAIN_DATABASE names no database")
        self.write_interval_s = int(need("SPLITBRAIN_WRITE_INTERVAL_MS")) / 1000.0
        self.incarnation = int(need("SPLITBRAIN_INCARNATION"))
        self.relinquished = env.get("SPLITBRAIN_RELINQUISHED", "") == "1"
        self.election_path = f"{self.zk_root}/{self.pair}/election"


class Out:
    """JSON lines on stdout, one per event, flushed at once; kazoo calls back on its own
    threads, so lines are written under a lock."""

    def __init__(self, node, pair):
        self.node = node
        self.pair = pair
        self.lock = threading.Lock()

    def emit(self, event, mono_ns=None, **fields):
        record = {"event": event}
        record.update(fields)
        record["mono_ns"] = time.monotonic_ns() if mono_ns is None else mono_ns
        record["node"] = self.node
        record["pair"] = self.pair
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self.lock:
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except (BrokenPipeError, ValueError, OSError):
                pass  # nobody reads any more; keep going until told to stop

    def log(self, text):
        """A line for the log file (stderr)."""
        with self.lock:
            try:
                sys.stderr.write(f"kazoo-election {self.node}: {text}\n")
                sys.stderr.flush()
            except (ValueError, OSError):
                pass


def short_error(e):
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def wait_ready(conn, deadline):
    """Drives an asynchronous psycopg2 connection until its current operation completes, or
    raises TimeoutError at `deadline` (time.monotonic())."""
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no answer from the database in time")
        if state == psycopg2.extensions.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == psycopg2.extensions.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")


class Database:
    """The pair's database: the first URL that accepts writes, one autocommit statement per
    write, reconnecting (on the next write) after any error."""

    def __init__(self, urls):
        self.urls = urls
        self.conn = None

    def _connect(self):
        errors = []
        for url in self.urls:
            conn = None
            try:
                # Asynchronous mode (always autocommit) so that the client, not only the server,
                # bounds how long we wait: a network fault may swallow packets silently.
                conn = psycopg2.connect(
                    url,
                    connect_timeout=1,
                    options="-c statement_timeout=1000",
                    target_session_attrs="read-write",
                    application_name="kazoo-election",
                    async_=1,
                )
                wait_ready(conn, time.monotonic() + CONNECT_TIMEOUT_S)
                return conn
            except Exception as e:  # noqa: BLE001 - any failure means: try the next host
                errors.append(f"{url}: {short_error(e)}")
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
        raise ConnectionError("no database host accepts writes (" + "; ".join(errors) + ")")

    def write(self, pair, node, write_id):
        """Returns the outcome text; raises on any failure (and forgets the connection)."""
        try:
            if self.conn is None:
                self.conn = self._connect()
            cursor = self.conn.cursor()
            cursor.execute(WRITE_SQL, (pair, node, write_id))
            wait_ready(self.conn, time.monotonic() + WRITE_TIMEOUT_S)
            row = cursor.fetchone()
            cursor.close()
            return row[0] if row else None
        except Exception:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001
                pass
            self.conn = None


class Candidacy:
    """One standing for election: one zk.Election and the thread that runs it."""

    def __init__(self, node):
        self.node = node
        self.election = node.zk.Election(node.cfg.election_path, node.cfg.node)
        self.stop = threading.Event()
        self.stop_reason = None
        self.leading = False  # the leader function has started acting (under node.state_lock)
        self.led_done = threading.Event()  # set when the leader function has returned
        self.thread = threading.Thread(
            target=self._run, name=f"election-{id(self):x}", daemon=True
        )

    def start(self):
        self.thread.start()

    def _run(self):
        node = self.node
        try:
            # Blocks until elected, then calls the leader function; returns when it returns
            # (the lock is released on the way out) or when the election is cancelled.
            self.election.run(node.lead, self)
        except Exception as e:  # noqa: BLE001
            if not node.quitting:
                node.out.emit("election_error", error=short_error(e))
                node.out.log(f"Election.run raised {e!r}; no longer standing")
        finally:
            self.led_done.set()


class Node:
    def __init__(self, cfg, out):
        self.cfg = cfg
        self.out = out
        auth_data = [("digest", cfg.zk_auth)] if cfg.zk_auth else None
        self.zk = KazooClient(
            hosts=cfg.zk_hosts, timeout=cfg.session_timeout_s, auth_data=auth_data
        )
        self.zk.add_listener(self._on_session_state)
        self.state_lock = threading.Lock()
        self.started = False  # zk.start() returned
        self.quitting = False
        self.want_standing = not cfg.relinquished
        self.candidacy = None  # the current standing, if any
        self.candidacies = []  # every standing whose thread may still run
        self.write_numbers = itertools.count(1)

    # --- ZooKeeper -------------------------------------------------------------------------

    def _on_session_state(self, state):
        # Called on kazoo's connection thread: print and return, nothing else (as documented,
        # a listener must not block). In particular it does not stop the leader function.
        fields = {"state": str(state).lower()}
        try:
            client_id = self.zk.client_id
            if client_id and client_id[0]:
                fields["session"] = f"0x{client_id[0]:x}"
        except Exception:  # noqa: BLE001
            pass
        self.out.emit("session", **fields)

    def connect(self):
        """zk.start(), again after each failure (kazoo gives up after 15 s), then stand."""
        while True:
            if self.quitting:
                return
            try:
                self.zk.start()
                break
            except Exception as e:  # noqa: BLE001
                if self.quitting:
                    return
                self.out.emit("zk_start_failed", error=short_error(e))
                time.sleep(1.0)
        with self.state_lock:
            if self.quitting:
                return
            self.started = True
            if self.want_standing:
                self._stand_locked()

    def _stand_locked(self):
        cand = Candidacy(self)
        self.candidacy = cand
        self.candidacies = [c for c in self.candidacies if not c.led_done.is_set()]
        self.candidacies.append(cand)
        cand.start()

    # --- master work -----------------------------------------------------------------------

    def lead(self, cand):
        """The leader function given to Election.run."""
        cfg = self.cfg
        with self.state_lock:
            if cand.stop.is_set():
                return  # relinquished or quitting while the lock was being won: never acted
            cand.leading = True
        self.out.emit("promoted", znode=cand.election.lock.node)
        db = Database(cfg.db_urls)
        try:
            next_tick = time.monotonic()
            while not cand.stop.is_set():
                write_id = (cfg.incarnation << 32) | next(self.write_numbers)
                self.out.emit("write_attempt", write=write_id)
                try:
                    outcome = db.write(cfg.pair, cfg.node, write_id)
                    if outcome == "accepted":
                        self.out.emit("write_accepted", write=write_id)
                    else:
                        self.out.emit("write_rejected", write=write_id, outcome=outcome)
                except Exception as e:  # noqa: BLE001
                    self.out.emit("write_failed", write=write_id, error=short_error(e))
                next_tick += cfg.write_interval_s
                now = time.monotonic()
                if next_tick < now:
                    next_tick = now  # late: write at once, no burst to catch up
                cand.stop.wait(next_tick - now)
        finally:
            db.close()
            self.out.emit("demoted", reason=cand.stop_reason or "leader function returned")

    # --- commands --------------------------------------------------------------------------

    def relinquish(self):
        with self.state_lock:
            self.want_standing = False
            cand = self.candidacy
            self.candidacy = None
            was_master = False
            if cand is not None:
                cand.stop_reason = "relinquish"
                cand.stop.set()
                was_master = cand.leading and not cand.led_done.is_set()
        if cand is not None:
            # Only stops a contender still waiting; a running leader function stops through
            # cand.stop, and Election.run then releases the lock.
            cand.election.cancel()
        self.out.emit("relinquished", was_standing=cand is not None, was_master=was_master)

    def rejoin(self):
        with self.state_lock:
            already = self.candidacy is not None
            self.want_standing = True
            if not already and self.started and not self.quitting:
                self._stand_locked()
        self.out.emit("rejoined", already_standing=already)

    def quit(self):
        with self.state_lock:
            self.quitting = True
            self.want_standing = False
            self.candidacy = None
            cands = list(self.candidacies)
            leading = []
            for cand in cands:
                if cand.stop_reason is None:
                    cand.stop_reason = "quit"
                cand.stop.set()
                if cand.leading:
                    leading.append(cand)
            started = self.started
        for cand in cands:
            cand.election.cancel()
        # A running write ends within its deadlines (each database host, then the statement).
        bound = CONNECT_TIMEOUT_S * len(self.cfg.db_urls) + WRITE_TIMEOUT_S + 2.0
        deadline = time.monotonic() + bound
        for cand in leading:
            cand.led_done.wait(max(0.0, deadline - time.monotonic()))
        try:
            self.zk.stop()
            if started:
                self.zk.close()
        except Exception as e:  # noqa: BLE001
            self.out.log(f"closing the ZooKeeper client: {e!r}")
        self.out.emit("stopped")

    def control_error(self, command, error):
        self.out.emit("control_error", command=command, error=error)


UNSUPPORTED = {
    "priority": "kazoo-election does not support priorities (kazoo's Election recipe has none)",
    "break-health": "kazoo-election does not support health checks",
    "heal-health": "kazoo-election does not support health checks",
    "clock": "kazoo-election does not support clock commands",
}


def main():
    try:
        cfg = Config(os.environ)
    except ValueError as e:
        sys.stderr.write(f"kazoo-election: {e}\n")
        return 2

    out = Out(cfg.node, cfg.pair)
    # kazoo logs its connection life (reconnects, expiry) through logging: to stderr, the log.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    out.emit(
        "hello",
        protocol=PROTOCOL,
        program=PROGRAM,
        version=VERSION,
        supports=["relinquish"],
    )
    protocol = os.environ.get("SPLITBRAIN_PROTOCOL", "")
    if protocol and protocol != str(PROTOCOL):
        out.log(f"SPLITBRAIN_PROTOCOL is {protocol}; this program speaks {PROTOCOL}")

    commands = queue.Queue()
    terminate = {"asked": False}

    def on_signal(signum, frame):  # noqa: ARG001
        # Only a flag: the main loop below sees it within 100 ms.
        terminate["asked"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def read_stdin():
        try:
            for line in sys.stdin:
                commands.put(line)
        except (ValueError, OSError):
            pass
        # End of input is not a command: keep running.

    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()

    node = Node(cfg, out)
    threading.Thread(target=node.connect, name="zk-start", daemon=True).start()

    while True:
        if terminate["asked"]:
            line = "quit"
        else:
            try:
                line = commands.get(timeout=0.1)
            except queue.Empty:
                continue
        command = line.strip()
        if not command:
            continue
        word = command.split()[0]
        if command == "quit":
            node.quit()
            break
        if command == "relinquish":
            node.relinquish()
        elif command == "rejoin":
            node.rejoin()
        elif word in UNSUPPORTED:
            node.control_error(command, UNSUPPORTED[word])
        else:
            node.control_error(command, f"kazoo-election does not support {command!r}")

    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        # Leftover kazoo or election threads (a contender sleeping in kazoo's retry back-off)
        # must not hold the exit.
        os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
