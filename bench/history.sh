#!/usr/bin/env bash
# bench/history.sh — what does judging a grant on the access history cost?
#
# Usage: bench/history.sh [N [K]]   (N grant lifecycles, default 33334, about
#                                    100,000 commits; K active, default 500)
#
# A rule with a `history` condition (docs/approval.md, "History") is judged
# on the audit of the history before the landing. This measures that
# judgement next to the audit's own walk and git's, on the benchmark's
# synthetic repository (bench/gen-history.py, shared with bench/audit.sh):
#   1. builds gitgrant in release mode;
#   2. generates (or reuses) target/bench-history-N-K, and clones it (sharing
#      its objects) into a scratch directory with one more commit: the role
#      prod-readonly gains the rule `routine` (held_before, max_grants,
#      clean_for);
#   3. times, interleaved pair by pair over the clone:
#        (a) git log --first-parent --name-status --format='%H %ct %s%n%(trailers)' -- grants/
#        (b) gitgrant audit --repo R --format json --now T
#        (c) gitgrant request prod-readonly --for 1h --no-pr --subject alice --now T:
#            validates the request and judges the rule on the history up to
#            HEAD (the same work as the check's judgement of a pull request)
#      as the pairs (a, c) and (b, c), each with the median of its per-pair
#      ratios; and the peak memory of (c);
#   4. prints a short plain-text report on stdout (progress goes to stderr).
#
# The figures are informative only: the exit status is non-zero only when
# something failed to run, never because of a timing.
#
# Environment (optional): HISTORY_RUNS — timed pairs of each kind (default 7).
set -euo pipefail

N=${1:-33334}
K=${2:-500}
RUNS=${HISTORY_RUNS:-7}

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
[[ $K =~ ^[0-9]+$ ]] && (( K <= N )) || die "K must be an integer from 0 to N, not '$K'"

build_release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitgrant-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
bench_repo "$N" "$K"
[[ -f $META ]] || die "$META is missing: the generator did not finish"
NOW=$(meta active-at)
COMMITS=$(meta commits)

# The clone, with the rule: one commit on top of the generated history.
CLONE=$WORK/repo
git clone -q --shared "$REPO" "$CLONE"
python3 - "$CLONE/gitgrant.yaml" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
role = "\n  prod-readonly:\n"
assert role in text, "the generated policy has no prod-readonly role"
rule = (role + "    auto_approve:\n      - name: routine\n        max_duration: 2h\n"
        "        history: { held_before: true, max_grants: { count: 3, per: 7d }, clean_for: 30d }\n")
open(path, "w").write(text.replace(role, rule, 1))
PY
git -C "$CLONE" -c user.name=bench -c user.email=bench@example.com \
    commit -q -am "prod-readonly: routine grants approved by history"
"$GITGRANT" validate --repo "$CLONE" --now "$NOW" >/dev/null \
    || die "the policy with the history rule does not validate"

GIT_CMD=(git -C "$CLONE" log --first-parent --name-status '--format=%H %ct %s%n%(trailers)' -- grants/)
AUDIT_CMD=("$GITGRANT" audit --repo "$CLONE" --format json --now "$NOW")
REQUEST_CMD=("$GITGRANT" request prod-readonly --for 1h --no-pr --subject alice
    --reason "Benchmark of the history judgement" --now "$NOW" --repo "$CLONE")

log "checking that the request is judged on the history"
"${REQUEST_CMD[@]}" >"$WORK/request.out" 2>"$WORK/request.err" \
    || { tail -c 3000 "$WORK/request.err" >&2; die "gitgrant request failed"; }
VERDICT=$(grep -m1 -E "rule .routine.|routine:" "$WORK/request.err" || true)
[[ -n $VERDICT ]] || { cat "$WORK/request.err" >&2; die "gitgrant request did not judge the rule"; }
log "ok: $VERDICT"

time_pair git request "$RUNS" "${#GIT_CMD[@]}" "${GIT_CMD[@]}" "${REQUEST_CMD[@]}"
mv "$WORK/request.times" "$WORK/request-vs-git.times"
time_pair audit request "$RUNS" "${#AUDIT_CMD[@]}" "${AUDIT_CMD[@]}" "${REQUEST_CMD[@]}"
REQUEST_RSS=$(peak_rss "${REQUEST_CMD[@]}")
AUDIT_RSS=$(peak_rss "${AUDIT_CMD[@]}")

python3 - "$N" "$K" "$COMMITS" "$NOW" "$(nproc 2>/dev/null || echo '?')" "$TIMER" \
    "$(cat "$WORK/git.times")" "$(cat "$WORK/audit.times")" "$(cat "$WORK/request.times")" \
    "$(cat "$WORK/git-request.ratio")" "$(cat "$WORK/audit-request.ratio")" \
    "$REQUEST_RSS" "$AUDIT_RSS" "$VERDICT" <<'PY'
import sys
(n, k, commits, now, cores, timer, git_t, audit_t, request_t,
 vs_git, vs_audit, request_rss, audit_rss, verdict) = sys.argv[1:]
def timing(t):
    med, best, runs = t.split()
    return f"median {float(med):.3f} s, best {float(best):.3f} s ({runs} runs)"
def row(label, value):
    print(f"  {label + ':':<36}{value}")
print(f"gitgrant history-judgement benchmark ({timer}, {cores} cores)")
row("history", f"{commits} commits, {n} lifecycles, {k} active at {now}")
row("git log (a)", timing(git_t))
row("gitgrant audit --format json (b)", timing(audit_t))
row("gitgrant request, judged (c)", timing(request_t))
row("request/git log", f"{float(vs_git):.2f}x (median of the per-pair ratios)")
row("request/audit", f"{float(vs_audit):.2f}x (median of the per-pair ratios)")
row("peak RSS request / audit", f"{int(request_rss) / 1024:.1f} MiB / {int(audit_rss) / 1024:.1f} MiB")
row("verdict", verdict.strip())
PY
