#!/usr/bin/python3
"""lock-adapter: a splitbrain node program (protocol 1) built on kazoo's Lock recipe.

Written only from docs/node-protocol.md, as a team with its own election would write one.
Run with /usr/bin/python3 (python3-kazoo 2.8.0, python3-psycopg2).

- Election: a kazoo `Lock` under $SPLITBRAIN_ZK_ROOT/$SPLITBRAIN_PAIR/lock. Holding it = master.
- Careful: a connection listener counts every SUSPENDED/LOST; the writer stops at the next
  write and prints `demoted` as soon as the session is in doubt (kazoo suspends after 2/3 of
  the session timeout without an answer, before the servers expire the session). After that
  the lock is released and contended for afresh, so every promotion has a new znode.
- Fencing token: the czxid of our own lock znode. zxids grow strictly with every change to
  the ensemble, and the lock is granted in sequence order, which is creation order: the next
  holder's znode was created after the current holder's (all lower ones are gone), so each
  grant's token is bigger than every earlier grant's. The token is raised as the fence
  (splitbrain_fence_raise) before the first write, so a late write of an older grant is refused.
- Supports `relinquish` / `rejoin` (and SPLITBRAIN_RELINQUISHED); no priorities (the lock is
  first come, first served), no health, no clock commands.
"""
import json, os, select, signal, sys, threading, time
import psycopg2, psycopg2.extensions as ext
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import CancelledError, KazooException, NoNodeError

E = os.environ
PAIR, NODE = E["SPLITBRAIN_PAIR"], E["SPLITBRAIN_NODE"]
LOCK_PATH = "%s/%s/lock" % (E["SPLITBRAIN_ZK_ROOT"].rstrip("/"), PAIR)
INTERVAL = int(E.get("SPLITBRAIN_WRITE_INTERVAL_MS", "100")) / 1000.0
INCARNATION = int(E.get("SPLITBRAIN_INCARNATION", "1"))
DB_URLS = [u.strip() for u in E["SPLITBRAIN_DATABASE"].split(",") if u.strip()]
out_lock = threading.Lock()

def emit(event, **fields):
    with out_lock:
        sys.stdout.write(json.dumps(dict(event=event, mono_ns=time.monotonic_ns(), **fields)) + "\n")
        sys.stdout.flush()

def log(msg):
    sys.stderr.write("%.3f %s\n" % (time.monotonic(), msg)); sys.stderr.flush()

class Db:
    """One async (hence autocommit) psycopg2 connection; every call gives up at its deadline."""
    conn = None

    def _wait(self, conn, deadline):
        while True:
            state = conn.poll()
            if state == ext.POLL_OK:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer within 1s")
            fd = conn.fileno()
            select.select([fd] if state == ext.POLL_READ else [], [fd] if state == ext.POLL_WRITE else [], [], left)

    def call(self, sql, args):
        deadline = time.monotonic() + 1.0
        try:
            if self.conn is None:
                self.conn = self._connect(deadline)
            cur = self.conn.cursor()
            cur.execute(sql, args)
            self._wait(self.conn, deadline)
            return cur.fetchone()
        except Exception:
            self.close()
            raise

    def _connect(self, deadline):
        for url in DB_URLS:  # the first host that accepts writes
            try:
                conn = psycopg2.connect(url, async_=1, connect_timeout=1)
                self._wait(conn, deadline)
                cur = conn.cursor()
                cur.execute("SELECT pg_is_in_recovery()")
                self._wait(conn, deadline)
                if not cur.fetchone()[0]:
                    return conn
                conn.close()
            except Exception as e:
                log("database %s: %s" % (url, e))
        raise ConnectionError("no database host accepts writes")

    def close(self):
        if self.conn is not None:
            try: self.conn.close()
            except Exception: pass
        self.conn = None

class Node:
    def __init__(self):
        self.guard = threading.RLock()  # standing/quitting vs. the lock being contended for
        self.standing = E.get("SPLITBRAIN_RELINQUISHED") != "1"
        self.quitting = False
        self.lock = None
        self.drops = 0                  # SUSPENDED/LOST seen so far
        self.wake = threading.Event()
        self.db = Db()
        self.writes = 0
        auth = [("digest", E["SPLITBRAIN_ZK_AUTH"])] if E.get("SPLITBRAIN_ZK_AUTH") else None
        self.zk = KazooClient(hosts=E["SPLITBRAIN_ZK"], auth_data=auth,
                              timeout=int(E.get("SPLITBRAIN_SESSION_TIMEOUT_MS", "10000")) / 1000.0,
                              connection_retry=dict(max_tries=-1, max_delay=1))
        self.zk.add_listener(self.on_state)

    def on_state(self, state):           # kazoo's thread: never block here
        if state in (KazooState.SUSPENDED, KazooState.LOST):
            self.drops += 1
        emit("session", state=state.lower())
        self.wake.set()

    def command(self, line):
        cmd = line.strip()
        if cmd in ("quit", "relinquish", "rejoin"):
            with self.guard:
                if cmd == "quit": self.quitting = True
                self.standing = cmd == "rejoin"
                if cmd != "rejoin" and self.lock is not None:
                    self.lock.cancel()   # wakes a blocked acquire(); a master stops at its next write
            self.wake.set()
        elif cmd:
            emit("control_error", command=cmd, error="not supported by lock-adapter")

    def run(self):
        while not self.quitting:
            try:
                self.zk.start(timeout=5); break
            except Exception as e:
                log("zookeeper: %r" % e)
        while not self.quitting:
            with self.guard:
                lock = self.lock = self.zk.Lock(LOCK_PATH, NODE) if self.standing and not self.quitting else None
            if lock is None:
                self.wake.wait(0.5); self.wake.clear(); continue
            try:
                if lock.acquire():
                    self.hold(lock)
            except CancelledError:
                pass
            except Exception as e:
                log("election: %r" % e); time.sleep(0.5)
            finally:
                self.let_go(lock)

    def hold(self, lock):
        drops = self.drops              # read before checking the znode: a later drop shows up
        stat = self.zk.exists(LOCK_PATH + "/" + lock.node)
        if stat is None or stat.ephemeralOwner != self.zk.client_id[0] or self.drops != drops:
            return
        token, why = stat.czxid, None
        emit("promoted", token=token)
        try:
            try:
                row = self.db.call("SELECT outcome, newest FROM splitbrain_fence_raise(%s, %s, %s)",
                                   (PAIR, NODE, token))
                log("fence_raise: %s" % (row,))
                if row[0] == "rejected_stale":
                    why = "fence refused: a newer token exists"
            except Exception as e:
                log("fence_raise: %r" % e)   # optional: the writes carry the token anyway
            while why is None:
                if self.quitting or not self.standing:
                    why = "quit" if self.quitting else "relinquished"
                elif self.drops != drops or self.zk.state != KazooState.CONNECTED:
                    why = "zookeeper session suspended or lost"
                else:
                    why = self.write(token)
                    self.wake.wait(INTERVAL); self.wake.clear()
        finally:
            emit("demoted", token=token, reason=why or "error")

    def write(self, token):
        """One write as master; returns a reason to demote, or None."""
        self.writes += 1
        wid = (INCARNATION << 32) | self.writes
        emit("write_attempt", write=wid, token=token)
        try:
            outcome, newest = self.db.call("SELECT outcome, newest FROM splitbrain_write(%s, %s, %s, %s)",
                                           (PAIR, NODE, token, wid))
        except Exception as e:
            emit("write_failed", write=wid, token=token, error=str(e).strip())
            return None
        ok = outcome == "accepted"
        emit("write_accepted" if ok else "write_rejected", write=wid, token=token, newest=newest)
        return None if ok else "write refused: " + outcome

    def let_go(self, lock):
        """Delete our znode (if any), retrying through a suspension; a lost session took it already."""
        with self.guard:
            self.lock = None
        while True:
            try:
                if lock.is_acquired:  # acquire() cleans up after itself when it fails or is cancelled
                    lock.release()
                return
            except NoNodeError:
                return
            except KazooException as e:
                if self.quitting: return
                log("release: %r" % e); time.sleep(0.5)

def main():
    emit("hello", protocol=1, program="lock-adapter", version="1", supports=["relinquish", "fencing_tokens"])
    node = Node()
    signal.signal(signal.SIGTERM, lambda *_: node.command("quit"))
    def read_stdin():
        for line in sys.stdin:
            node.command(line)
        # end of input is not a command: keep running
    threading.Thread(target=read_stdin, daemon=True).start()
    node.run()
    try: node.zk.stop(); node.zk.close()
    except Exception: pass
    sys.exit(0)

if __name__ == "__main__":
    main()
