// CuratorLatch: a splitbrain node program (node protocol version 1, docs/node-protocol.md)
// built on Apache Curator 5.4.0's LeaderLatch, used the way Curator's documentation teaches it
// and with Curator's defaults. It is meant to be judged, not trusted: it adds no safety that
// Curator itself does not give.
//
// classpath: curator-recipes.jar:curator-framework.jar:curator-client.jar:zookeeper.jar:zookeeper-jute.jar:guava.jar:slf4j-api.jar:slf4j-simple.jar:postgresql.jar
// jvm: -Xss512k -XX:+UseSerialGC -Xmx128m -XX:TieredStopAtLevel=1 -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS
//
// (Jar file names under /usr/share/java, Debian 12: libcurator-*-java 5.4.0,
// libzookeeper-java 3.8.0, libpostgresql-jdbc-java 42.5.5. zookeeper.jar's manifest Class-Path
// pulls in the rest of ZooKeeper's dependencies itself.)
//
// Build and run:
//   javac -d DIR -cp CLASSPATH CuratorLatch.java
//   java JVM-FLAGS -cp DIR:CLASSPATH CuratorLatch
//
// What the program does
// ---------------------
// One CuratorFramework client (CuratorFrameworkFactory with the session timeout splitbrain asks
// for, Curator's default connection timeout of 15 s and ExponentialBackoffRetry(1000, 3)), one
// LeaderLatch at $SPLITBRAIN_ZK_ROOT/$SPLITBRAIN_PAIR/latch whose id is the node's name, and a
// LeaderLatchListener: isLeader() prints "promoted" and starts the write loop, notLeader() stops
// the write loop, waits for the write in flight, and prints "demoted". The connection state
// error policy is Curator 5's default (StandardConnectionStateErrorPolicy), under which the
// latch gives up leadership on SUSPENDED, i.e. as soon as the ZooKeeper client has lost its
// connection, not only once the session is LOST. The one non-default choice is
// LeaderLatch.CloseMode.NOTIFY_LEADER: with Curator's default (SILENT) close() does not call
// notLeader(), and this program wants every loss of leadership to go through the same
// listener. Digest credentials (SPLITBRAIN_ZK_AUTH) are added to the session; znodes keep
// Curator's default open ACL.
//
// What a user would have to add for safety (none of it is here, on purpose)
// --------------------------------------------------------------------------
// 1. Fencing tokens. Curator hands out none: isLeader() carries no number. A user could take
//    the czxid of the latch's own znode (getOurPath(), then checkExists() for its Stat) when
//    isLeader() fires -- it grows with every new latch node -- send it with every write, and
//    have the database refuse a token older than the newest it has seen (a fence row updated
//    in the write's transaction, as splitbrain_write does). Without a fence, a write sent just
//    before leadership ended, or by a master that does not know yet that it lost, is taken.
// 2. Stopping the work before leadership is given up, not after. notLeader() is a
//    notification after the fact. On close() (relinquish, quit) LeaderLatch deletes its znode
//    first and only then calls notLeader(), so the other node can be promoted while this one
//    still has a write in flight. On a partition the latch demotes on SUSPENDED (after about
//    2/3 of the session timeout without an answer from the server, or at once when the
//    connection breaks), while the server expires the session, and the other node takes over,
//    after the whole session timeout: a write that may take longer than that gap (slow
//    database, reconnects to several hosts) can still land after the takeover. A user must
//    stop the work before calling close(), and bound every write well inside that gap.
// 3. A long GC pause (or SIGSTOP). While the JVM is stopped no callback runs, and nothing
//    tells the write loop that the session expired meanwhile: after the pause the loop may send
//    a write before the ZooKeeper client's thread has noticed that it is no longer the master.
//    Only a fence stops that write, or a lease check before each write (the time since the
//    last answer from ZooKeeper, on a monotonic clock, compared with the session timeout).
// 4. Priorities. LeaderLatch elects the oldest latch znode, nothing else: it has no notion of
//    a preferred node and never hands over to one ("priority" is not supported).
// 5. Health. The latch stays with a node that can reach ZooKeeper but not its database.
//
// Protocol notes
// --------------
// - stdout carries only the protocol's JSON lines (System.out is pointed at stderr, where
//   Curator's and ZooKeeper's own logging goes through slf4j-simple).
// - Every line has mono_ns = System.nanoTime(), which on Linux is CLOCK_MONOTONIC.
// - Commands: quit, relinquish, rejoin. Anything else is answered with control_error.
//   SIGTERM runs the quit path from a shutdown hook. End of stdin is not a command.

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderLatchListener;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.framework.state.ConnectionStateListener;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.utils.ZKPaths;

public final class CuratorLatch {
    static final String PROGRAM = "curator-latch";
    static final String VERSION = "curator 5.4.0";
    static final String WRITE_SQL = "SELECT outcome FROM splitbrain_write_unfenced(?, ?, ?)";
    /** Seconds: JDBC query timeout, and connect/socket timeouts of the database connection. */
    static final int DB_TIMEOUT_S = 1;

    // ------------------------------------------------------------------ output

    private static PrintStream stdout;
    private static String nodeName = "";
    private static String pairName = "";

    /** One JSON line, stamped with CLOCK_MONOTONIC when it is created. */
    static final class Line {
        private final StringBuilder sb = new StringBuilder(192);

        Line(String event) {
            long mono = System.nanoTime();
            sb.append("{\"event\":");
            quote(sb, event);
            sb.append(",\"mono_ns\":").append(mono);
        }

        Line str(String key, String value) {
            sb.append(',');
            quote(sb, key);
            sb.append(':');
            if (value == null) {
                sb.append("null");
            } else {
                quote(sb, value);
            }
            return this;
        }

        Line num(String key, long value) {
            sb.append(',');
            quote(sb, key);
            sb.append(':').append(value);
            return this;
        }

        Line bool(String key, boolean value) {
            sb.append(',');
            quote(sb, key);
            sb.append(':').append(value);
            return this;
        }

        /** A value that is JSON already. */
        Line raw(String key, String json) {
            sb.append(',');
            quote(sb, key);
            sb.append(':').append(json);
            return this;
        }

        void emit() {
            str("node", nodeName);
            str("pair", pairName);
            sb.append('}');
            println(sb.toString());
        }
    }

    /** Appends s as a JSON string; everything outside printable ASCII is escaped. */
    static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                case '\b': sb.append("\\b"); break;
                case '\f': sb.append("\\f"); break;
                default:
                    if (c < 0x20 || c >= 0x7f) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }

    static synchronized void println(String line) {
        stdout.print(line);
        stdout.print('\n');
        stdout.flush();
    }

    static void log(String msg) {
        System.err.println("[curator-latch " + nodeName + "] " + msg);
    }

    // ------------------------------------------------------------------ settings

    static String env(String name, String dflt) {
        String v = System.getenv(name);
        return (v == null || v.isEmpty()) ? dflt : v;
    }

    static String required(String name) {
        String v = System.getenv(name);
        if (v == null || v.isEmpty()) {
            throw new IllegalArgumentException("environment variable " + name + " is not set");
        }
        return v;
    }

    /** One database host to try, from SPLITBRAIN_DATABASE. */
    static final class DbTarget {
        final String host;
        final int port;
        final String user;
        final String database;

        DbTarget(String host, int port, String user, String database) {
            this.host = host;
            this.port = port;
            this.user = user;
            this.database = database;
        }

        String jdbcUrl() {
            return "jdbc:postgresql://" + host + ":" + port + "/" + database;
        }

        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    /**
     * Parses SPLITBRAIN_DATABASE: libpq URIs separated by commas, in order of preference
     * ("postgres://postgres@127.0.0.1:41101/postgres,postgres://postgres@127.0.0.1:41102/postgres"),
     * also accepting libpq's own multi-host form ("postgres://postgres@h1:p1,h2:p2/postgres").
     */
    static List<DbTarget> parseDatabases(String spec) {
        // Group the comma-separated pieces: a piece with a scheme starts a new URI.
        List<String> uris = new ArrayList<>();
        for (String piece : spec.split(",")) {
            String p = piece.trim();
            if (p.isEmpty()) {
                continue;
            }
            if (p.contains("://") || uris.isEmpty()) {
                uris.add(p);
            } else {
                uris.set(uris.size() - 1, uris.get(uris.size() - 1) + "," + p);
            }
        }
        List<DbTarget> out = new ArrayList<>();
        for (String uri : uris) {
            String rest = uri;
            int scheme = rest.indexOf("://");
            if (scheme >= 0) {
                rest = rest.substring(scheme + 3);
            }
            int query = rest.indexOf('?');
            if (query >= 0) {
                rest = rest.substring(0, query);
            }
            String database = null;
            int slash = rest.indexOf('/');
            if (slash >= 0) {
                database = rest.substring(slash + 1);
                rest = rest.substring(0, slash);
            }
            String user = "postgres";
            int at = rest.lastIndexOf('@');
            if (at >= 0) {
                String userinfo = rest.substring(0, at);
                int colon = userinfo.indexOf(':');
                user = colon >= 0 ? userinfo.substring(0, colon) : userinfo;
                rest = rest.substring(at + 1);
            }
            if (database == null || database.isEmpty()) {
                database = user;
            }
            for (String hostport : rest.split(",")) {
                String host = hostport;
                int port = 5432;
                int colon = hostport.lastIndexOf(':');
                if (colon >= 0) {
                    host = hostport.substring(0, colon);
                    port = Integer.parseInt(hostport.substring(colon + 1));
                }
                if (host.isEmpty()) {
                    host = "127.0.0.1";
                }
                out.add(new DbTarget(host, port, user, database));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("SPLITBRAIN_DATABASE names no database: " + spec);
        }
        return out;
    }

    // ------------------------------------------------------------------ master work

    /**
     * The write loop: one thread, one write at a time, only while master. promote() and
     * demote() are called from the LeaderLatchListener.
     */
    static final class Writer implements Runnable {
        private final String pair;
        private final String node;
        private final long incarnation;
        private final long intervalNs;
        private final List<DbTarget> targets;

        // Guarded by this.
        private boolean master;
        private boolean writing;
        private long nextDueNs;
        private long n;

        // Only touched by the writer thread (and by close() once the process stops).
        private Connection conn;
        private PreparedStatement write;
        private DbTarget connectedTo;

        Writer(String pair, String node, long incarnation, long intervalMs, List<DbTarget> targets) {
            this.pair = pair;
            this.node = node;
            this.incarnation = incarnation;
            this.intervalNs = TimeUnit.MILLISECONDS.toNanos(Math.max(1, intervalMs));
            this.targets = targets;
        }

        /** isLeader(): print promoted, then let the loop write (the first write at once). */
        synchronized void promote() {
            if (master) {
                log("isLeader() while already master: ignored");
                return;
            }
            new Line("promoted").emit();
            master = true;
            nextDueNs = System.nanoTime();
            notifyAll();
        }

        /** notLeader(): stop writing, wait for the write in flight, then print demoted. */
        synchronized void demote(String reason) {
            if (!master) {
                return;
            }
            master = false;
            notifyAll();
            boolean interrupted = false;
            while (writing) {
                try {
                    wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            new Line("demoted").str("reason", reason).emit();
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void run() {
            while (true) {
                long id;
                synchronized (this) {
                    try {
                        while (true) {
                            if (!master) {
                                wait();
                                continue;
                            }
                            long wait = nextDueNs - System.nanoTime();
                            if (wait > 0) {
                                TimeUnit.NANOSECONDS.timedWait(this, wait);
                                continue;
                            }
                            break;
                        }
                    } catch (InterruptedException e) {
                        continue;
                    }
                    writing = true;
                    n += 1;
                    id = (incarnation << 32) | n;
                    nextDueNs = System.nanoTime() + intervalNs;
                    // Inside the lock: after promoted, and before any demoted.
                    new Line("write_attempt").num("write", id).emit();
                }
                try {
                    writeOnce(id);
                } catch (Throwable t) {
                    new Line("write_failed").num("write", id).str("error", describe(t)).emit();
                    dropConnection();
                } finally {
                    synchronized (this) {
                        writing = false;
                        notifyAll();
                    }
                }
            }
        }

        private void writeOnce(long id) {
            try {
                if (conn == null) {
                    connect();
                }
                write.setString(1, pair);
                write.setString(2, node);
                write.setLong(3, id);
                String outcome;
                try (ResultSet rs = write.executeQuery()) {
                    outcome = rs.next() ? rs.getString(1) : null;
                }
                if ("accepted".equals(outcome)) {
                    new Line("write_accepted").num("write", id).str("outcome", outcome).emit();
                } else {
                    new Line("write_rejected").num("write", id).str("outcome", outcome).emit();
                }
            } catch (SQLException e) {
                new Line("write_failed").num("write", id).str("error", describe(e)).emit();
                dropConnection();
            }
        }

        /** Connects to the first database in SPLITBRAIN_DATABASE that accepts writes. */
        private void connect() throws SQLException {
            SQLException last = null;
            for (DbTarget t : targets) {
                Properties props = new Properties();
                props.setProperty("user", t.user);
                props.setProperty("connectTimeout", Integer.toString(DB_TIMEOUT_S));
                props.setProperty("socketTimeout", Integer.toString(DB_TIMEOUT_S));
                props.setProperty("cancelSignalTimeout", Integer.toString(DB_TIMEOUT_S));
                props.setProperty("ApplicationName", "curator-latch " + pair + "/" + node);
                Connection c = null;
                try {
                    c = new org.postgresql.Driver().connect(t.jdbcUrl(), props);
                    if (c == null) {
                        throw new SQLException("driver refused URL " + t.jdbcUrl());
                    }
                    c.setAutoCommit(true);
                    try (Statement st = c.createStatement()) {
                        st.setQueryTimeout(DB_TIMEOUT_S);
                        try (ResultSet rs = st.executeQuery("SHOW transaction_read_only")) {
                            if (rs.next() && "on".equalsIgnoreCase(rs.getString(1))) {
                                throw new SQLException(t + " does not accept writes (read-only)", "25006");
                            }
                        }
                    }
                    PreparedStatement ps = c.prepareStatement(WRITE_SQL);
                    ps.setQueryTimeout(DB_TIMEOUT_S);
                    conn = c;
                    write = ps;
                    connectedTo = t;
                    log("database: connected to " + t);
                    return;
                } catch (SQLException e) {
                    log("database: " + t + ": " + describe(e));
                    last = e;
                    if (c != null) {
                        abortQuietly(c);
                    }
                }
            }
            throw last != null ? last : new SQLException("no database to connect to");
        }

        private void dropConnection() {
            Connection c = conn;
            conn = null;
            write = null;
            if (c != null) {
                log("database: dropping the connection to " + connectedTo);
                abortQuietly(c);
            }
            connectedTo = null;
        }

        private static void abortQuietly(Connection c) {
            try {
                c.abort(Runnable::run);
            } catch (Throwable t) {
                try {
                    c.close();
                } catch (Throwable ignored) {
                    // nothing left to do
                }
            }
        }

        /** At exit: the loop is stopped (demoted) already. */
        void close() {
            synchronized (this) {
                if (writing || master) {
                    return;
                }
            }
            Connection c = conn;
            if (c != null) {
                try {
                    c.close();
                } catch (Throwable ignored) {
                    // exiting anyway
                }
            }
        }
    }

    static String describe(Throwable t) {
        StringBuilder sb = new StringBuilder(t.getClass().getSimpleName());
        if (t instanceof SQLException && ((SQLException) t).getSQLState() != null) {
            sb.append(" [").append(((SQLException) t).getSQLState()).append(']');
        }
        if (t.getMessage() != null) {
            sb.append(": ").append(t.getMessage());
        }
        Throwable cause = t.getCause();
        if (cause != null && cause != t) {
            sb.append(" (caused by ").append(cause.getClass().getSimpleName());
            if (cause.getMessage() != null) {
                sb.append(": ").append(cause.getMessage());
            }
            sb.append(')');
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------ election

    /** The LeaderLatchListener of one latch (a rejoin makes a new latch and a new listener). */
    final class Listener implements LeaderLatchListener {
        /** Set just before this latch is closed on purpose (relinquish, quit). */
        volatile String closing;

        @Override
        public void isLeader() {
            log("LeaderLatchListener.isLeader()");
            writer.promote();
        }

        @Override
        public void notLeader() {
            String reason = closing != null
                    ? "latch closed (" + closing + ")"
                    : "notLeader (session " + lastSessionState + ")";
            log("LeaderLatchListener.notLeader(): " + reason);
            writer.demote(reason);
        }
    }

    private final CuratorFramework client;
    private final String latchPath;
    private final Writer writer;
    private final Object latchLock = new Object();
    private LeaderLatch latch; // guarded by latchLock
    private Listener listener; // guarded by latchLock
    private boolean stopped; // guarded by latchLock
    private volatile String lastSessionState = "not connected yet";

    CuratorLatch(CuratorFramework client, String latchPath, Writer writer) {
        this.client = client;
        this.latchPath = latchPath;
        this.writer = writer;
    }

    /** Caller holds latchLock. */
    private void startLatch() throws Exception {
        Listener l = new Listener();
        LeaderLatch ll = new LeaderLatch(client, latchPath, nodeName, LeaderLatch.CloseMode.NOTIFY_LEADER);
        ll.addListener(l);
        ll.start();
        latch = ll;
        listener = l;
        log("LeaderLatch started at " + latchPath);
    }

    /** Caller holds latchLock. Closing the latch deletes its znode, then calls notLeader(). */
    private void closeLatch(String why) {
        LeaderLatch ll = latch;
        if (ll == null) {
            return;
        }
        listener.closing = why;
        latch = null;
        listener = null;
        try {
            ll.close();
        } catch (Exception e) {
            log("closing the latch: " + describe(e));
        }
        log("LeaderLatch closed (" + why + ")");
    }

    void relinquish() {
        synchronized (latchLock) {
            if (stopped) {
                return;
            }
            boolean was = latch != null;
            closeLatch("relinquish");
            new Line("relinquished").bool("already", !was).emit();
        }
    }

    void rejoin() {
        synchronized (latchLock) {
            if (stopped) {
                return;
            }
            if (latch != null) {
                new Line("rejoined").bool("already", true).emit();
                return;
            }
            try {
                startLatch();
                new Line("rejoined").bool("already", false).emit();
            } catch (Exception e) {
                new Line("control_error").str("command", "rejoin").str("error", describe(e)).emit();
            }
        }
    }

    /** The quit path: close the latch (which demotes), close the client, print stopped. */
    void shutdown(String why) {
        synchronized (latchLock) {
            if (stopped) {
                return;
            }
            stopped = true;
            closeLatch(why);
            writer.demote(why); // a no-op unless the latch failed to call notLeader()
            try {
                client.close();
            } catch (Throwable t) {
                log("closing the client: " + describe(t));
            }
            writer.close();
            new Line("stopped").str("reason", why).emit();
        }
    }

    void command(String line) {
        String cmd = line.trim();
        if (cmd.isEmpty()) {
            return;
        }
        String word = cmd.split("\\s+", 2)[0];
        switch (cmd) {
            case "quit":
                shutdown("quit");
                System.exit(0);
                return;
            case "relinquish":
                relinquish();
                return;
            case "rejoin":
                rejoin();
                return;
            default:
                new Line("control_error").str("command", cmd)
                        .str("error", "curator-latch does not support " + word).emit();
        }
    }

    public static void main(String[] args) throws Exception {
        // stdout is the protocol's; anything else printing to System.out goes to stderr.
        stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        System.setOut(System.err);
        nodeName = env("SPLITBRAIN_NODE", "");
        pairName = env("SPLITBRAIN_PAIR", "");

        new Line("hello").num("protocol", 1).str("program", PROGRAM).str("version", VERSION)
                .raw("supports", "[\"relinquish\"]").emit();

        String protocol = env("SPLITBRAIN_PROTOCOL", "1");
        if (!"1".equals(protocol)) {
            log("SPLITBRAIN_PROTOCOL=" + protocol + ", but this program speaks version 1");
        }

        CuratorLatch me;
        boolean relinquished;
        try {
            String zk = required("SPLITBRAIN_ZK");
            String root = env("SPLITBRAIN_ZK_ROOT", "/splitbrain");
            nodeName = required("SPLITBRAIN_NODE");
            pairName = required("SPLITBRAIN_PAIR");
            int sessionTimeoutMs = Integer.parseInt(env("SPLITBRAIN_SESSION_TIMEOUT_MS", "10000"));
            long intervalMs = Long.parseLong(env("SPLITBRAIN_WRITE_INTERVAL_MS", "100"));
            long incarnation = Long.parseLong(env("SPLITBRAIN_INCARNATION", "1"));
            List<DbTarget> dbs = parseDatabases(required("SPLITBRAIN_DATABASE"));
            relinquished = "1".equals(env("SPLITBRAIN_RELINQUISHED", ""));
            String auth = env("SPLITBRAIN_ZK_AUTH", null);

            // As Curator's documentation has it: CuratorFrameworkFactory.newClient(connectString,
            // sessionTimeoutMs, connectionTimeoutMs, retryPolicy), here through the builder
            // only to add the digest credentials.
            CuratorFrameworkFactory.Builder builder = CuratorFrameworkFactory.builder()
                    .connectString(zk)
                    .sessionTimeoutMs(sessionTimeoutMs)
                    .connectionTimeoutMs(15000)
                    .retryPolicy(new ExponentialBackoffRetry(1000, 3));
            if (auth != null) {
                builder.authorization("digest", auth.getBytes(StandardCharsets.UTF_8));
            }
            CuratorFramework client = builder.build();
            String latchPath = ZKPaths.makePath(root, pairName, "latch");
            Writer writer = new Writer(pairName, nodeName, incarnation, intervalMs, dbs);
            me = new CuratorLatch(client, latchPath, writer);
            log("zk=" + zk + " latch=" + latchPath + " session_timeout_ms=" + sessionTimeoutMs
                    + " write_interval_ms=" + intervalMs + " incarnation=" + incarnation
                    + " databases=" + dbs + (relinquished ? " (starting relinquished)" : ""));
        } catch (RuntimeException e) {
            new Line("fatal").str("error", describe(e)).emit();
            log("cannot start: " + describe(e));
            System.exit(2);
            return;
        }
        me.run(relinquished);
    }

    private void run(boolean relinquished) throws Exception {
        // Registered before start() so that the first CONNECTED is seen. Connection state
        // listeners run one after another on Curator's ConnectionStateManager thread, in no
        // fixed order with the latch's own listener.
        ConnectionStateListener sessions = (CuratorFramework c, ConnectionState state) -> {
            String name = state.name().toLowerCase(Locale.ROOT);
            lastSessionState = name;
            new Line("session").str("state", name).emit();
        };
        client.getConnectionStateListenable().addListener(sessions);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> shutdown("sigterm"), "shutdown"));

        Thread w = new Thread(writer, "writer");
        w.setDaemon(true);
        w.start();

        client.start();
        synchronized (latchLock) {
            if (relinquished) {
                new Line("relinquished").bool("already", false).str("cause", "SPLITBRAIN_RELINQUISHED").emit();
            } else {
                startLatch();
            }
        }

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            command(line);
        }
        log("end of stdin: running on until quit or SIGTERM");
        new CountDownLatch(1).await();
    }
}
