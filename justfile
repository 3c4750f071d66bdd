# splitbrain recipes. `just --list` shows them.

# Run the standard world for one seed.
sim seed="7" duration="10m":
    cargo run --release -- sim --seed {{seed}} --duration {{duration}}

# The test command of README and CI: installs the Debian packages the tests need when missing
# (zookeeper, postgresql, chromium, the JDK, Curator, kazoo, psycopg2; as root), then runs the
# suite.
test *args="":
    scripts/test {{args}}

# Live mode's start-up and step lag (scenarios/master-crash.toml, three live runs).
bench-live runs="3":
    cargo run --release -- bench --live --runs {{runs}}

# Every live scenario of the library, on real processes (slow: each takes its own duration).
live-all:
    cargo test --release --test live_scenarios -- --include-ignored --nocapture

# Live against the simulator, file by file (docs/zookeeper-fidelity.md, "Whole scenarios"):
# each library file below played live `runs` times, one after another, and simulated over
# `seeds` seeds; a report per file under reports/compare/<file>/ (compare.json, index.html,
# live-K/). Slow: a live run lasts its duration and liveness phase, ~155 s for these files.
compare-library runs="3" seeds="20":
    #!/usr/bin/env bash
    set -uo pipefail
    cargo build --release || exit 2
    flagged=()
    failed=()
    for file in master-crash slave-crash master-cut-from-zk-not-db \
        gc-pause-longer-than-session gc-pause-shorter-than-session pair-rolling-upgrade \
        master-dc-isolated one-way-master-to-zk zk-leader-crash-during-failover \
        health-fault-database node-fails-over-database-does-not other-dc-isolated; do
        # A fresh directory: live-K/ of an earlier comparison would mix with this one's.
        rm -rf "reports/compare/$file"
        target/release/splitbrain compare "scenarios/$file.toml" --runs {{runs}} \
            --seeds {{seeds}} --out "reports/compare/$file"
        case $? in
            0) ;;
            1) flagged+=("$file") ;;
            130) exit 130 ;;
            *) failed+=("$file") ;;
        esac
        echo
    done
    echo "flagged: ${flagged[*]:-none}; could not compare: ${failed[*]:-none}"
    [ ${#failed[@]} -eq 0 ] || exit 2
    [ ${#flagged[@]} -eq 0 ] || exit 1

# The scenario library played live with each third-party node program (docs/node-protocol.md),
# and docs/third-party-results.md regenerated from the runs; every failure's evidence stays
# under reports/third-party/<program>/. Slow: every file lasts its own duration and liveness.
third-party-results programs="curator-latch kazoo-election":
    #!/usr/bin/env bash
    set -uo pipefail
    cargo build --release || exit 2
    mkdir -p reports/third-party
    dirs=()
    for program in {{programs}}; do
        rm -rf "reports/third-party/$program"
        target/release/splitbrain live scenarios --program "$program" --json \
            --out "reports/third-party/$program" > "reports/third-party/$program.jsonl"
        [ $? -le 1 ] || [ -f "reports/third-party/$program/summary.json" ] || exit 2
        dirs+=("reports/third-party/$program")
    done
    target/release/splitbrain live --results "${dirs[@]}" > docs/third-party-results.md

# Random exploration on real processes: `seeds` generated worlds (the simulated chaos's draws,
# a 2-minute fault phase) played live one at a time with every node running `program`
# (splitbrain, curator-latch, kazoo-election); report under reports/, nothing shrunk.
# Slow: about 3 minutes a seed.
chaos-live program="splitbrain" seeds="3" *args="":
    cargo build --release
    target/release/splitbrain chaos --live --program {{program}} --seeds {{seeds}} {{args}}

# Speed-up over real time and peak memory of the standard world.
bench seeds="10":
    cargo run --profile perf -- bench --seeds {{seeds}}

# The nightly chaos run: random worlds and fault schedules on every core, report under reports/.
chaos seeds="10000" *args="":
    cargo run --profile perf -- chaos --seeds {{seeds}} {{args}}

# Seeds chaos needs (random and guided, median and worst over 3 starts) to find each known-bug
# variant p1 … p8, n1 … n4; `just bench-known-bugs 2000 5` for the full measure.
bench-known-bugs seeds="500" starts="3":
    cargo run --profile perf -- bench --known-bugs --seeds {{seeds}} --starts {{starts}}

# Measures the build with profile-guided optimisation (see bench-scale-pgo) where llvm-tools
# is installed, else the plain perf build; the bench's `build` line says which.
# The scale world (100 pairs, 5 voters, ten simulated minutes): speed-up and peak memory.
bench-scale runs="5":
    #!/usr/bin/env bash
    set -euo pipefail
    rc=0
    bin=$(scripts/pgo-build) || rc=$?
    case $rc in
        0) exec "$bin" bench --scale --runs {{runs}} ;;
        2) echo "bench-scale: measuring the plain perf build instead" >&2
           exec cargo run --profile perf -- bench --scale --runs {{runs}} ;;
        *) exit $rc ;;
    esac

# scripts/pgo-build needs `rustup component add llvm-tools` and about twelve minutes on 2
# cores, redone only when the sources change. The same simulation in a tenth fewer
# instructions: 10-15 % less time than the plain build while this shared machine runs slow,
# the same while it runs fast.
# The scale world, built with profile-guided optimisation.
bench-scale-pgo runs="5":
    "$(scripts/pgo-build)" bench --scale --runs {{runs}}

# The scale world on the plain perf build.
bench-scale-plain runs="5":
    cargo run --profile perf -- bench --scale --runs {{runs}}

# Just the binary of `bench-scale-pgo`: prints its path.
pgo-build:
    scripts/pgo-build

# Formatting and lints, as required before every commit.
check:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# Install what the real-process tests and the report rendering test need (Debian).
deps:
    apt-get update && apt-get install -y zookeeper postgresql chromium
