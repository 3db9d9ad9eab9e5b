# bench/lib.sh — what the benchmark scripts share; sourced, not run.
# Needs WORK (a scratch directory) set before time_cmd or peak_rss is called.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# time_cmd NAME RUNS WARMUP CMD... — writes "median best runs" (seconds) to
# $WORK/NAME.times. Output of the command is discarded; a failed run is fatal.
if command -v hyperfine >/dev/null && [[ -z ${BENCH_NO_HYPERFINE:-} ]]; then
    TIMER="hyperfine"
    time_cmd() {
        local name=$1 runs=$2 warmup=$3; shift 3
        hyperfine --shell=bash --style=basic --runs "$runs" --warmup "$warmup" \
            --command-name "$name" --export-json "$WORK/$name.json" \
            "$(printf '%q ' "$@")" >&2
        python3 - "$WORK/$name.json" >"$WORK/$name.times" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(r["median"], r["min"], len(r["times"]))
PY
    }
else
    TIMER="python time.perf_counter"
    time_cmd() {
        local name=$1 runs=$2 warmup=$3; shift 3
        log "timing $name: $warmup warmup + $runs runs"
        python3 "$BENCH_DIR/timing.py" one "$WORK/$name.times" "$runs" "$warmup" "$@"
    }
fi

# time_pair A B RUNS N CMD_A... CMD_B... — times A and B alternately, where
# CMD_A is the first N words (see bench/timing.py), so that a machine whose
# speed drifts during the benchmark slows both alike. Writes "median best
# runs" to $WORK/A.times and $WORK/B.times, and the median of the per-pair
# ratios B/A to $WORK/A-B.ratio.
time_pair() {
    local a=$1 b=$2 runs=$3; shift 3
    log "timing $a and $b, interleaved: 1 warmup + $runs runs each"
    python3 "$BENCH_DIR/timing.py" pair "$WORK/$a.times" "$WORK/$b.times" \
        "$WORK/$a-$b.ratio" "$runs" "$@"
}

# Peak resident memory of one run of CMD..., in KiB.
peak_rss() {
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%M' -o "$WORK/rss" "$@" >/dev/null 2>"$WORK/rss.err" \
            || { tail -c 3000 "$WORK/rss.err" >&2; die "$1 failed while its memory was measured"; }
        tail -n 1 "$WORK/rss"
    else
        python3 - "$@" <<'PY'
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)  # KiB on Linux
PY
    fi
}

# build_release — builds gitgrant in release mode from the repository this
# file lives in (which becomes the working directory) and sets TOP,
# TARGET_DIR and GITGRANT.
build_release() {
    TOP=$(git -C "$BENCH_DIR" rev-parse --show-toplevel 2>/dev/null || (cd "$BENCH_DIR/.." && pwd))
    cd "$TOP"
    TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-$TOP/target}")
    log "building gitgrant (cargo build --release --locked)"
    cargo build --release --locked >&2
    GITGRANT=$TARGET_DIR/release/gitgrant
    [[ -x $GITGRANT ]] || die "no binary at $GITGRANT after the build"
}

# bench_repo N K [SHAPE] — the synthetic access repository of N lifecycles,
# K active (bench/gen-history.py, SHAPE merge — the default — or linear), in
# $TARGET_DIR/bench-history-N-K (…-linear for the linear shape): generated,
# or reused when a previous run left it complete. Sets REPO, META (the
# generator's summary, written last) and GENERATED (generated or reused).
bench_repo() {
    local shape=${3:-merge}
    REPO=$TARGET_DIR/bench-history-$1-$2
    [[ $shape == merge ]] || REPO=$REPO-$shape
    META=$REPO/.git/gen-history.txt
    if [[ -f $META ]]; then
        log "reusing $REPO (remove it to regenerate)"
        GENERATED=reused
    else
        rm -rf "$REPO" "$REPO.tmp"
        log "generating $1 lifecycles ($2 active, $shape) into $REPO"
        python3 "$TOP/bench/gen-history.py" --lifecycles "$1" --active "$2" --shape "$shape" \
            "$REPO.tmp" >/dev/null
        mv "$REPO.tmp" "$REPO"
        GENERATED=generated
    fi
}

# meta KEY — a value from the generator's summary of the repository.
meta() { sed -n "s/^$1: //p" "$META"; }
