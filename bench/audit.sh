#!/usr/bin/env bash
# bench/audit.sh — how fast does gitgrant read a long access-repository history?
#
# Usage: bench/audit.sh             (both shapes, ~100,000 commits each, side by side)
#        bench/audit.sh N [K [SHAPE]]
#                                   (N grant lifecycles, default 33334, about
#                                    100,000 commits; K of them still active at
#                                    the tip, default 500; SHAPE merge, the
#                                    default, or linear: one commit lands each
#                                    grant, see bench/gen-history.py — 50000
#                                    lifecycles make about 100,000 commits)
#
# What it does, in order:
#   1. builds gitgrant in release mode (`cargo build --release --locked`);
#   2. generates a synthetic access repository with bench/gen-history.py
#      (N lifecycles of request, merge and removal commits, K grants active at
#      a time T it prints) into target/bench-history-<N>-<K>, or reuses that
#      repository when a previous run left it complete; checks that its tip is
#      valid with exactly K active grants at T (`gitgrant validate`);
#   3. times, over the same repository (git log and gitgrant audit
#      interleaved run by run with python's time.perf_counter, so that a
#      machine whose speed drifts slows both alike; expire with hyperfine when
#      it is installed):
#        (a) plain git reading what the audit needs:
#            git log --first-parent --name-status --format='%H %ct %s%n%(trailers)' -- grants/
#        (b) gitgrant audit --repo R --format json --now T
#            and the ratio gitgrant/git, the median of the per-pair ratios
#            (the goal: at most 1.0x); --now only
#            makes the output independent of the day the benchmark runs;
#        (c) gitgrant expire --dry-run --repo R --now T: reads the K grants at
#            the tip and computes their landing times from first-parent history;
#      and measures the peak memory of (b) and (c);
#   4. prints a short plain-text report on stdout (progress goes to stderr).
#
# The figures are informative only: the exit status is non-zero only when
# something failed to run (including a gitgrant without the `audit` or
# `expire` command: then the git half is still measured and reported) or the
# generated repository was not what it should be, never because of a timing.
#
# Environment (all optional):
#   AUDIT_RUNS    timed pairs of git log and gitgrant audit (default 10)
#   FORMAT_RUNS   timed pairs of git log and each of `audit --format csv` and
#                 `audit --at T` (default 5)
#   GIT_RUNS      timed runs of git log when gitgrant has no audit (default 10)
#   EXPIRE_RUNS   timed runs of gitgrant expire --dry-run (default 10)
#   BENCH_NO_HYPERFINE=1  use the python timer even when hyperfine is installed
#   BENCH_NO_COMMIT_GRAPH=1  measure without git's commit-graph file (by
#                 default the repository has one, as `git gc` writes it;
#                 both git log and the audit read it)
#
# To regenerate the repository, remove target/bench-history-<N>-<K>.
#
# Needs: cargo, python3, git; hyperfine and /usr/bin/time are used when
# present. Does not need root or a network.
set -euo pipefail

# With no arguments: both shapes of about 100,000 commits, each report in
# turn, then the two side by side.
if (( $# == 0 )); then
    BENCH_SUMMARY=$(mktemp "${TMPDIR:-/tmp}/gitgrant-bench-summary.XXXXXX")
    export BENCH_SUMMARY
    trap 'rm -f "$BENCH_SUMMARY"' EXIT
    "$0" 33334 500 merge
    echo
    "$0" 50000 500 linear
    echo
    python3 - "$BENCH_SUMMARY" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
print("both shapes, side by side (medians of interleaved pairs; peak RSS)")
print(f"  {'shape':<8}{'commits':>9}{'git log':>10}{'audit':>10}{'audit/git':>11}{'git RSS':>11}{'audit RSS':>11}")
for shape, commits, git_t, audit_t, ratio, git_rss, audit_rss in rows:
    mib = lambda k: "-" if k == "-" else f"{int(k) / 1024:.0f} MiB"
    print(f"  {shape:<8}{commits:>9}{float(git_t):>9.3f}s{float(audit_t):>9.3f}s{float(ratio):>10.2f}x"
          f"{mib(git_rss):>11}{mib(audit_rss):>11}")
PY
    exit 0
fi

N=${1:-33334}
K=${2:-500}
SHAPE=${3:-merge}
GIT_RUNS=${GIT_RUNS:-10}
AUDIT_RUNS=${AUDIT_RUNS:-10}
EXPIRE_RUNS=${EXPIRE_RUNS:-10}
FORMAT_RUNS=${FORMAT_RUNS:-5}
TARGET_RATIO=1.0                  # the goal: gitgrant audit no slower than git log

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $K =~ ^[0-9]+$ ]] && (( K <= N )) || die "K must be an integer from 0 to N, not '$K'"
[[ $SHAPE == merge || $SHAPE == linear ]] || die "SHAPE is merge or linear, not '$SHAPE'"
command -v python3 >/dev/null || die "python3 is required"
command -v git >/dev/null || die "git is required"

# --- 1. Build -----------------------------------------------------------------

build_release

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitgrant-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# --- 2. Synthetic history ---------------------------------------------------------

bench_repo "$N" "$K" "$SHAPE"
[[ -f $META ]] || die "$META is missing: the generator did not finish"
NOW=$(meta active-at)
COMMITS=$(meta commits)
FIRST_PARENT=$(meta first-parent)
GEN_SECONDS=$(meta elapsed-seconds)
[[ -n $NOW && -n $COMMITS && -n $FIRST_PARENT ]] || die "$META is incomplete"

# The repository must still be what the generator wrote: main at the head it
# recorded, a clean working tree (validate reads the working tree).
head=$(git -C "$REPO" rev-parse --verify --quiet refs/heads/main || true)
[[ $head == "$(meta head)" ]] \
    || die "main in $REPO is at '${head:-nothing}', not at $(meta head): remove the directory to regenerate"
[[ -z $(git -C "$REPO" status --porcelain --untracked-files=no) ]] \
    || die "$REPO has local changes: remove it to regenerate"

# Git's commit-graph, as `git gc` (gc.writeCommitGraph, on by default)
# leaves in any repository that has been used for a while: git log and the
# audit both read it. BENCH_NO_COMMIT_GRAPH=1 measures without it.
GRAPH=$REPO/.git/objects/info/commit-graph
if [[ -n ${BENCH_NO_COMMIT_GRAPH:-} ]]; then
    rm -f "$GRAPH"
    COMMIT_GRAPH=no
elif [[ ! -f $GRAPH ]]; then
    log "writing git's commit-graph (git commit-graph write --reachable)"
    git -C "$REPO" commit-graph write --reachable
fi
COMMIT_GRAPH=${COMMIT_GRAPH:-yes}

log "checking that the tip is valid with $K active grants at $NOW"
set +e
"$GITGRANT" validate --repo "$REPO" --now "$NOW" >"$WORK/validate.out" 2>&1
status=$?
set -e
summary=$(tail -n 1 "$WORK/validate.out")
if [[ $status -ne 0 || ! $summary =~ ^valid:\ gitgrant\.yaml\ and\ ([0-9]+)\ grants\ .*\ ([0-9]+)\ active ]] \
    || [[ ${BASH_REMATCH[1]} -ne $K || ${BASH_REMATCH[2]} -ne $K ]]; then
    tail -n 30 "$WORK/validate.out" >&2
    die "gitgrant validate exited $status at the tip of $REPO; expected it valid with $K active grants"
fi
log "ok: $summary"

# Which of the history commands this gitgrant has (they are newer than validate).
HAVE_AUDIT=0 HAVE_EXPIRE=0
"$GITGRANT" audit --help >/dev/null 2>&1 && HAVE_AUDIT=1
"$GITGRANT" expire --help >/dev/null 2>&1 && HAVE_EXPIRE=1

GIT_CMD=(git -C "$REPO" log --first-parent --name-status '--format=%H %ct %s%n%(trailers)' -- grants/)
AUDIT_CMD=("$GITGRANT" audit --repo "$REPO" --format json --now "$NOW")
EXPIRE_CMD=("$GITGRANT" expire --dry-run --repo "$REPO" --now "$NOW")

# Run each command once, untimed: it must succeed (and this warms the cache).
log "checking that git log reads the history"
"${GIT_CMD[@]}" >"$WORK/git.out"
lines=$(grep -c '^[0-9a-f]\{40\} ' "$WORK/git.out" || true)
log "ok: git log printed $lines commits touching grants/ (of $FIRST_PARENT on the first-parent chain)"

if (( HAVE_AUDIT )); then
    log "checking that gitgrant audit reads the history"
    set +e
    "${AUDIT_CMD[@]}" >"$WORK/audit.json" 2>"$WORK/audit.err"
    status=$?
    set -e
    if [[ $status -ne 0 ]]; then
        tail -c 3000 "$WORK/audit.err" >&2
        die "gitgrant audit exited $status on $REPO"
    fi
    # It must account for every lifecycle: N of them, K still active. Its
    # findings are counted for the report (the generator makes none on purpose).
    AUDIT_FINDINGS=$(python3 - "$WORK/audit.json" "$N" "$K" <<'PY'
import json, sys
n, k = int(sys.argv[2]), int(sys.argv[3])
try:
    d = json.load(open(sys.argv[1]))
    lives = d["lifecycles"]
except (ValueError, KeyError, TypeError) as e:
    sys.exit(f"bench: error: gitgrant audit did not print the expected JSON ({e})")
active = sum(1 for l in lives if l.get("state") == "active")
# The generator's removal commits are unsigned: each is an unverified-evidence
# finding, and nothing else is expected.
findings = sum(1 for f in d.get("findings", []) if f.get("rule") != "unverified-evidence")
if len(lives) != n or active != k:
    sys.exit(f"bench: error: gitgrant audit found {len(lives)} lifecycles ({active} active);"
             f" expected {n} ({k} active)")
print(f"bench: ok: gitgrant audit rebuilt {len(lives)} lifecycles, {active} active,"
      f" {findings} findings", file=sys.stderr)
print(findings)
PY
) || die "gitgrant audit did not account for the generated history"
fi
if (( HAVE_EXPIRE )); then
    log "checking that gitgrant expire --dry-run reads the tip"
    set +e
    "${EXPIRE_CMD[@]}" >"$WORK/expire.out" 2>"$WORK/expire.err"
    status=$?
    set -e
    if [[ $status -ne 0 ]]; then
        tail -c 3000 "$WORK/expire.out" "$WORK/expire.err" >&2
        die "gitgrant expire --dry-run exited $status on $REPO at $NOW"
    fi
    log "ok: $(tail -n 1 "$WORK/expire.out")"
fi

# --- 3. Timing ----------------------------------------------------------------------

if (( HAVE_AUDIT )); then
    # Interleaved, so that both see the same machine (see time_pair).
    time_pair git audit "$AUDIT_RUNS" "${#GIT_CMD[@]}" "${GIT_CMD[@]}" "${AUDIT_CMD[@]}"
    # The streamed CSV, and the audit as of a moment (`--at`), each paired
    # with git log again.
    CSV_CMD=("$GITGRANT" audit --repo "$REPO" --format csv --now "$NOW")
    AT_CMD=("$GITGRANT" audit --repo "$REPO" --format json --now "$NOW" --at "$NOW")
    time_pair gitc csv "$FORMAT_RUNS" "${#GIT_CMD[@]}" "${GIT_CMD[@]}" "${CSV_CMD[@]}"
    time_pair gita at "$FORMAT_RUNS" "${#GIT_CMD[@]}" "${GIT_CMD[@]}" "${AT_CMD[@]}"
    AUDIT_RSS=$(peak_rss "${AUDIT_CMD[@]}")
    GIT_RSS=$(peak_rss "${GIT_CMD[@]}")
    if [[ -n ${BENCH_SUMMARY:-} ]]; then
        read -r git_med _ < "$WORK/git.times"
        read -r audit_med _ < "$WORK/audit.times"
        echo "$SHAPE $COMMITS $git_med $audit_med $(cat "$WORK/git-audit.ratio") $GIT_RSS $AUDIT_RSS" >>"$BENCH_SUMMARY"
    fi
else
    log "timing git log ($TIMER)"
    time_cmd git "$GIT_RUNS" 1 "${GIT_CMD[@]}"
fi
if (( HAVE_EXPIRE )); then
    log "timing gitgrant expire --dry-run ($TIMER)"
    time_cmd expire "$EXPIRE_RUNS" 1 "${EXPIRE_CMD[@]}"
    EXPIRE_RSS=$(peak_rss "${EXPIRE_CMD[@]}")
fi

# --- 4. Report ------------------------------------------------------------------------

times_of() { if [[ -f $WORK/$1.times ]]; then cat "$WORK/$1.times"; else echo "- - -"; fi; }

python3 - "$N" "$K" "$COMMITS" "$FIRST_PARENT" "$NOW" "$GENERATED" "${GEN_SECONDS:-?}" \
    "$(nproc 2>/dev/null || echo '?')" "$TIMER" "$TARGET_RATIO" \
    "$(times_of git)" "$(times_of audit)" "$(times_of expire)" \
    "$(cat "$WORK/git-audit.ratio" 2>/dev/null || echo -)" \
    "${AUDIT_RSS:--}" "${EXPIRE_RSS:--}" "${AUDIT_FINDINGS:--}" "$SHAPE" "${GIT_RSS:--}" "$COMMIT_GRAPH" \
    "$(cat "$WORK/gitc-csv.ratio" 2>/dev/null || echo -)" "$(cat "$WORK/gita-at.ratio" 2>/dev/null || echo -)" \
    "$(times_of csv)" "$(times_of at)" <<'PY'
import sys
(n, k, commits, first_parent, now, generated, gen_s, cores, timer, target,
 git_t, audit_t, expire_t, paired, audit_rss, expire_rss, findings, shape, git_rss, graph,
 csv_ratio, at_ratio, csv_t, at_t) = sys.argv[1:]
target = float(target)
def parse(t):
    med, best, runs = t.split()
    return None if med == "-" else (float(med), float(best), int(runs))
git_t, audit_t, expire_t = parse(git_t), parse(audit_t), parse(expire_t)
def row(label, value):
    print(f"  {label + ':':<32}{value}")
def timing(t):
    return f"median {t[0]:.3f} s, best {t[1]:.3f} s ({t[2]} runs)"
def mib(kib):
    return f"{int(kib) / 1024:.1f} MiB"
print(f"gitgrant history benchmark ({timer}, {cores} cores)")
row("history", f"{shape} shape: {commits} commits, {first_parent} first-parent, {n} lifecycles, {k} active at {now}")
row("commit-graph", "yes (as git gc writes it; BENCH_NO_COMMIT_GRAPH=1 for none)" if graph == "yes" else "none (BENCH_NO_COMMIT_GRAPH)")
row("generation", f"{gen_s} s ({'this run' if generated == 'generated' else 'when generated; reused now'})")
row("git log (a)", timing(git_t))
if audit_t:
    row("gitgrant audit (b)", timing(audit_t))
    ratio = float(paired)
    row("gitgrant/git", f"{ratio:.2f}x (median of {audit_t[2]} interleaved pairs; "
        f"{audit_t[0] / git_t[0]:.2f}x of the medians)")
    row(f"{target:g}x goal", f"{'met' if ratio <= target else 'NOT met'} ({ratio:.2f}x)")
    for label, r, t in (("--format csv / git", csv_ratio, csv_t), ("--at / git", at_ratio, at_t)):
        if r != "-":
            t = parse(t)
            row(label, f"{float(r):.2f}x (median of {t[2]} interleaved pairs; audit median {t[0]:.3f} s)"
                       f" — goal {'met' if float(r) <= target else 'NOT met'}")
    row("gitgrant audit peak RSS", f"{mib(audit_rss)} (git log: {mib(git_rss)})")
    row("audit findings", f"{findings} besides unverified-evidence (the synthetic history should have none)")
else:
    row("gitgrant audit (b)", "not run: this gitgrant has no `audit` command")
if expire_t:
    row("gitgrant expire --dry-run (c)", timing(expire_t))
    row("expire --dry-run peak RSS", mib(expire_rss))
else:
    row("gitgrant expire --dry-run (c)", "not run: this gitgrant has no `expire` command")
PY

if (( ! HAVE_AUDIT || ! HAVE_EXPIRE )); then
    die "gitgrant lacks$( (( HAVE_AUDIT )) || printf ' audit')$( (( HAVE_EXPIRE )) || printf ' expire'): only the git half was measured"
fi
