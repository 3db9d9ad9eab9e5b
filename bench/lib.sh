# bench/lib.sh — what the benchmark scripts share; sourced, not run.
# Needs WORK (a scratch directory) set before time_cmd or peak_rss is called.

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
        python3 - "$runs" "$warmup" "$@" >"$WORK/$name.times" <<'PY'
import statistics, subprocess, sys, time
runs, warmup, cmd = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
times = []
for i in range(warmup + runs):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        sys.exit(f"bench: error: {cmd[0]} exited {p.returncode}")
    if i >= warmup:
        times.append(t)
print(statistics.median(times), min(times), len(times))
PY
    }
fi

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
