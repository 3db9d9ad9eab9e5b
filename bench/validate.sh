#!/usr/bin/env bash
# bench/validate.sh — how fast is `gitgrant validate` on a large access repository?
#
# Usage: bench/validate.sh [N]          (N grant files, default 10000)
#
# What it does, in order:
#   1. builds gitgrant in release mode (`cargo build --release --locked`);
#   2. writes a synthetic access repository with N grant files, all valid,
#      into a temporary directory (removed on exit), and checks with
#      `gitgrant validate` that it really is valid and holds N grants;
#   3. installs check-jsonschema from PyPI into target/bench-venv (reused
#      when present) as the point of comparison: a generic validator of the
#      same files against schema/grant.schema.json;
#   4. times both over the same files: with hyperfine when it is installed,
#      otherwise with python's time.perf_counter; and measures gitgrant's
#      peak memory;
#   5. prints a short plain-text report on stdout (progress goes to stderr).
#
# The figures are informative only: the exit status is non-zero only when
# something failed to run or the generated repository was not valid, never
# because of a timing.
#
# Environment (all optional):
#   GITGRANT_RUNS   timed runs of gitgrant validate (default 10)
#   CJS_RUNS        timed runs of check-jsonschema (default 3)
#   BENCH_NO_HYPERFINE=1  use the python timer even when hyperfine is installed
#
# Needs: cargo, python3 (with venv), git, GNU xargs; hyperfine and
# /usr/bin/time are used when present. Does not need root.
set -euo pipefail

N=${1:-10000}
NOW=2026-11-23T12:00:00Z          # fixed, so the synthetic windows stay valid
GITGRANT_RUNS=${GITGRANT_RUNS:-10}
CJS_RUNS=${CJS_RUNS:-3}
CJS_VERSION=0.39.0                # pinned so that runs stay comparable
TARGET_SECONDS=0.5                # the goal for gitgrant validate at N=10000

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $N =~ ^[1-9][0-9]*$ ]] || die "N must be a positive integer, not '$N'"
command -v python3 >/dev/null || die "python3 is required"

# --- 1. Build -----------------------------------------------------------------

build_release

# check-jsonschema validates against the schema gitgrant generates.
SCHEMA=$TOP/schema/grant.schema.json
if [[ ! -f $SCHEMA ]]; then
    log "schema/grant.schema.json missing: running gitgrant schema"
    "$GITGRANT" schema
    [[ -f $SCHEMA ]] || die "gitgrant schema did not write $SCHEMA"
fi

# --- 2. Synthetic access repository ---------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitgrant-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
REPO=$WORK/repo
mkdir -p "$REPO"
cp examples/access-repo/gitgrant.yaml "$REPO/gitgrant.yaml"

log "writing $N grant files to $REPO"
# One python process writes every file, modelled on examples/access-repo/grants/.
# Each grant obeys the example policy: a subject the role admits and who has an
# identity on its provider, a ticket matching require_ticket where there is one,
# and a window no longer than max_duration. Half use `duration:`; the rest an
# explicit window with assorted UTC offsets: `starts:` + `expires:` around $NOW
# (active) or anywhere in Nov-Dec 2026 (scheduled or expired), or `expires:`
# alone (measured from $NOW), so that validate sees every state of a grant.
# A fixed seed makes the repository the same on every run. On stdout it writes
# the NUL-separated list of the files, relative to the repository, for
# check-jsonschema.
python3 - "$REPO" "$N" "$NOW" >"$WORK/files.nul" <<'PY'
import os, random, sys
from datetime import datetime, timedelta, timezone

repo, n, now = sys.argv[1], int(sys.argv[2]), sys.argv[3]
now = datetime.fromisoformat(now.replace("Z", "+00:00"))
rng = random.Random(20261123)

PROD = ["alice", "bob", "carol", "dave", "erin"]  # everyone with an aws-prod identity
# role: (weight, subjects, ticket prefix or None, durations, max_duration in minutes)
ROLES = {
    "prod-readonly": (50, PROD, None, ["30m", "1h", "1h30m", "2h", "4h", "8h"], 8 * 60),
    # requesters: ["@acme/platform"]: a team, so any person with an aws-prod identity.
    "prod-admin": (25, PROD, "CHG", ["30m", "1h", "1h30m", "2h", "4h"], 4 * 60),
    "staging-vendor": (20, ["vendor-globex", "dave"], "VND", ["12h", "1d", "1d12h", "2d", "3d"], 3 * 24 * 60),
    "prod-break-glass": (5, ["alice", "bob", "carol"], "INC", ["15m", "30m", "1h", "2h"], 2 * 60),
}
REASONS = {
    "prod-readonly": ["{t}: checkout latency in eu-west-1", "Quarterly access review of production log retention",
                      "Investigate elevated 5xx rates on the payments API", "{t}: compare metrics before and after the deploy"],
    "prod-admin": ["{t}: rotate the payments database master credentials", "{t}: resize the orders cluster",
                   "{t}: apply the approved IAM boundary change"],
    "staging-vendor": ["Globex migrates the staging pipeline to the new schema (contract {t})",
                       "{t}: Globex reruns the nightly backfill"],
    "prod-break-glass": ["{t}: restore the failed primary database", "{t}: roll back a broken config push"],
}
OFFSETS = [0, 0, 60, 120, -300, -420, 330, 540]  # minutes east of UTC
HEADER = "# yaml-language-server: $schema=../../schema/grant.schema.json\n"

def rfc3339(t, offset):
    tz = timezone(timedelta(minutes=offset))
    s = t.astimezone(tz).isoformat()
    return s[:-6] + "Z" if offset == 0 else s

names = list(ROLES)
weights = [ROLES[r][0] for r in names]
base = datetime(2026, 11, 1, tzinfo=timezone.utc)
seen = set()
out = sys.stdout
for r in names:
    os.makedirs(os.path.join(repo, "grants", r), exist_ok=True)
for i in range(n):
    role = rng.choices(names, weights)[0]
    _, subjects, prefix, durations, max_min = ROLES[role]
    subject = rng.choice(subjects)
    ticket = f"{prefix}-{rng.randint(1, 99999)}" if prefix else None
    if ticket is None and rng.random() < 0.3:   # optional ticket, as in alice's example
        ticket = f"INC-{rng.randint(1, 99999)}"
    reason = rng.choice(REASONS[role]).format(t=ticket or "INC-0")
    if ":" in reason:
        reason = '"' + reason + '"'
    lines = [f"subject: {subject}", f"role: {role}", f"reason: {reason}"]
    if ticket:
        lines.append(f"ticket: {ticket}")
    kind = rng.random()
    if kind < 0.5:                                # duration from landing
        lines.append(f"duration: {rng.choice(durations)}")
        day = base + timedelta(days=rng.randint(0, 22))
    else:
        offset = rng.choice(OFFSETS)
        length = timedelta(minutes=15 * rng.randint(1, max_min // 15))
        if kind < 0.7:                            # explicit window holding now: active
            starts = now - rng.random() * length
            starts = starts.replace(second=0, microsecond=0)
            lines.append(f"starts: {rfc3339(starts, offset)}")
            day = starts
        elif kind < 0.9:                          # explicit window, past or future
            starts = base + timedelta(minutes=15 * rng.randint(0, 45 * 24 * 4))
            lines.append(f"starts: {rfc3339(starts, offset)}")
            day = starts
        else:                                     # expires only: measured from now
            starts = now
            day = now
        lines.append(f"expires: {rfc3339(starts + length, offset)}")
    while True:
        rel = f"grants/{role}/{subject}-{day:%Y%m%d}-{rng.getrandbits(16):04x}.yaml"
        if rel not in seen:
            break
    seen.add(rel)
    with open(os.path.join(repo, rel), "w") as f:
        f.write(HEADER + "\n".join(lines) + "\n")
    out.write(rel + "\0")
PY

# The benchmark must measure a valid repository: validate it once and insist
# on success and on exactly N grants. (This run also warms the page cache.)
log "checking that the generated repository is valid"
set +e
"$GITGRANT" validate --repo "$REPO" --now "$NOW" >"$WORK/validate.out" 2>&1
status=$?
set -e
summary=$(tail -n 1 "$WORK/validate.out")
if [[ $status -ne 0 || ! $summary =~ ^valid:\ gitgrant\.yaml\ and\ ([0-9]+)\ grants ]] \
    || [[ ${BASH_REMATCH[1]} -ne $N ]]; then
    tail -n 30 "$WORK/validate.out" >&2
    die "gitgrant validate exited $status on the generated repository; expected it valid with $N grants"
fi
log "ok: $summary"

# --- 3. check-jsonschema -----------------------------------------------------------

VENV=$TARGET_DIR/bench-venv
CJS=$VENV/bin/check-jsonschema
# The installed version, if any (sed reads all of pip's output: no SIGPIPE).
have=$("$VENV/bin/python" -m pip show check-jsonschema 2>/dev/null | sed -n 's/^Version: //p' || true)
if [[ ! -x $CJS || $have != "$CJS_VERSION" ]]; then
    log "installing check-jsonschema $CJS_VERSION into $VENV"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "check-jsonschema==$CJS_VERSION" >&2
fi
[[ -x $CJS ]] || die "check-jsonschema is not at $CJS"

# check-jsonschema takes the files as arguments, passed by xargs. GNU xargs'
# default buffer (128 KiB) would split 10000 paths into several processes, so
# -s is set to fit the whole list whenever the kernel allows it: argument and
# environment strings plus their pointers must stay within ARG_MAX (a quarter
# of the stack limit, at most 6 MiB; raised here when that helps). Only a
# list beyond that is split, and then the timing covers every process.
list_bytes=$(wc -c <"$WORK/files.nul")
env_bytes=$(env | wc -c)
env_count=$(env | wc -l)
cmd_bytes=$(( ${#CJS} + ${#SCHEMA} + 16 ))
need=$(( list_bytes + cmd_bytes + env_bytes + 8 * (N + env_count + 8) + 4096 ))
arg_max=$(getconf ARG_MAX)
if (( need > arg_max )); then
    ulimit -S -s $(( need * 4 / 1024 + 1024 )) 2>/dev/null || true
    arg_max=$(getconf ARG_MAX)
    (( arg_max <= 6291456 )) || arg_max=6291456   # the kernel's own cap
fi
if (( need <= arg_max )); then
    XARGS_S=$(( list_bytes + cmd_bytes + 1024 ))     # all in one process
else
    XARGS_S=$(( (arg_max - env_bytes) / 2 ))         # split; half leaves room for pointers
    log "the file list ($list_bytes bytes) exceeds ARG_MAX ($arg_max): xargs will split it"
fi

cd "$REPO"   # the file list is relative to the generated repository
CJS_CMD=(xargs -0 -s "$XARGS_S" -a "$WORK/files.nul" "$CJS" --schemafile "$SCHEMA")

# Run it once, untimed: it must accept every file (the schema and the
# generator agree), and -t tells how many processes xargs started.
log "checking that check-jsonschema accepts the generated files"
set +e
xargs -t "${CJS_CMD[@]:1}" >"$WORK/cjs.out" 2>"$WORK/cjs.err"
status=$?
set -e
if [[ $status -ne 0 ]]; then
    tail -c 3000 "$WORK/cjs.out" >&2
    tail -c 3000 "$WORK/cjs.err" >&2
    die "check-jsonschema exited $status on the generated files"
fi
CJS_PROCS=$(grep -c -- "--schemafile" "$WORK/cjs.err" || true)
log "ok: check-jsonschema accepted all files in $CJS_PROCS process(es)"

# --- 4. Timing ----------------------------------------------------------------------

GG_CMD=("$GITGRANT" validate --repo "$REPO" --now "$NOW")

log "timing gitgrant validate ($TIMER)"
time_cmd gitgrant "$GITGRANT_RUNS" 2 "${GG_CMD[@]}"
# The untimed run above was check-jsonschema's warmup.
log "timing check-jsonschema ($TIMER)"
time_cmd check-jsonschema "$CJS_RUNS" 0 "${CJS_CMD[@]}"

# Peak resident memory of one gitgrant validate run, in KiB.
RSS_KIB=$(peak_rss "${GG_CMD[@]}")

# --- 5. Report ------------------------------------------------------------------------

read -r GG_MED GG_BEST GG_N <"$WORK/gitgrant.times"
read -r CJS_MED CJS_BEST CJS_N <"$WORK/check-jsonschema.times"

python3 - "$N" "$(nproc 2>/dev/null || echo '?')" "$TIMER" "$TARGET_SECONDS" "$RSS_KIB" \
    "$GG_MED" "$GG_BEST" "$GG_N" "$CJS_VERSION" "$CJS_MED" "$CJS_BEST" "$CJS_N" "$CJS_PROCS" <<'PY'
import sys
(n, cores, timer, target, rss, gg_med, gg_best, gg_n,
 cjs_ver, cjs_med, cjs_best, cjs_n, cjs_procs) = sys.argv[1:]
target, rss = float(target), int(rss)
gg_med, gg_best, cjs_med, cjs_best = map(float, (gg_med, gg_best, cjs_med, cjs_best))
met = "met" if gg_med <= target else "NOT met"
def row(label, value):
    print(f"  {label + ':':<28}{value}")
print(f"gitgrant validate benchmark ({timer}, {cores} cores)")
row("grant files", n)
row("gitgrant validate", f"median {gg_med:.3f} s, best {gg_best:.3f} s ({gg_n} runs)")
row(f"check-jsonschema {cjs_ver}", f"median {cjs_med:.3f} s, best {cjs_best:.3f} s"
    f" ({cjs_n} runs, {cjs_procs} process{'' if cjs_procs == '1' else 'es'})")
row("check-jsonschema/gitgrant", f"{cjs_med / gg_med:.1f}x (medians)")
row("gitgrant peak RSS", f"{rss / 1024:.1f} MiB")
row(f"{target:g} s target", f"{met} (median {gg_med:.3f} s)")
PY
