#!/usr/bin/env bash
# bench/report.sh — how fast does the audit report render in a real browser?
#
# Usage: bench/report.sh [N]     (N grant lifecycles, default 10000)
#
# Builds gitgrant in release mode (or uses $GITGRANT), generates a synthetic
# access repository of N lifecycles with bench/gen-history.py (kept in
# target/bench-report-<N>), writes `gitgrant audit --format html` of it, and
# loads the page in headless chromium (scripts/chromium finds or installs
# it) RUNS times (default 5). Prints the page's size and, as medians, what
# the page itself measured: its script from start to laid out
# (data-render-ms), and from the start of navigation to then
# (data-since-navigation-ms), besides the whole browser run (start-up
# included). The goal: under 2 s for 10,000 lifecycles. Figures only; the
# exit status says whether everything ran, never whether it was fast.
set -euo pipefail

N=${1:-10000}
RUNS=${RUNS:-5}
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/.." && pwd)
cd "$TOP"
TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-$TOP/target}")
if [[ -z ${GITGRANT:-} ]]; then
    log "building gitgrant (cargo build --release --locked)"
    cargo build --release --locked >&2
    GITGRANT=$TARGET_DIR/release/gitgrant
fi
CHROMIUM=$(scripts/chromium)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gitgrant-report.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

REPO=$TARGET_DIR/bench-report-$N
if [[ ! -f $REPO/.git/gen-history.txt ]]; then
    rm -rf "$REPO"
    log "generating $N lifecycles into $REPO"
    python3 "$HERE/gen-history.py" --lifecycles "$N" --active 100 "$REPO" >&2
fi
NOW=$(sed -n 's/^active-at: //p' "$REPO/.git/gen-history.txt")
"$GITGRANT" audit --repo "$REPO" --format html --now "$NOW" >"$WORK/report.html"

python3 - "$CHROMIUM" "$WORK" "$RUNS" "$N" "$NOW" <<'PY'
import os, re, statistics, subprocess, sys, time
chromium, work, runs, n, now = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
page = os.path.join(work, "report.html")
script, nav, wall, bars = [], [], [], None
for i in range(runs):
    t0 = time.perf_counter()
    out = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                          f"--user-data-dir={work}/profile-{i}", "--window-size=1400,900",
                          "--dump-dom", f"file://{page}#at={now}"],
                         capture_output=True, text=True, check=True).stdout
    wall.append(time.perf_counter() - t0)
    m = re.search(r'data-render-ms="(\d+)"', out)
    k = re.search(r'data-since-navigation-ms="(\d+)"', out)
    if not m or not k:
        sys.exit("bench: error: the page did not finish rendering")
    script.append(int(m.group(1)) / 1000)
    nav.append(int(k.group(1)) / 1000)
    bars = len(re.findall(r'<rect class="bar', out))
print(f"gitgrant audit report benchmark (headless chromium, {os.cpu_count()} cores)")
print(f"  lifecycles:                     {n} ({bars} bars drawn)")
print(f"  page:                           {os.path.getsize(page) / 1024 / 1024:.1f} MiB, self-contained")
print(f"  script, start to laid out:      median {statistics.median(script):.3f} s ({runs} runs)")
print(f"  navigation start to laid out:   median {statistics.median(nav):.3f} s (goal: under 2 s)")
print(f"  whole browser run:              median {statistics.median(wall):.3f} s (start-up included)")
PY
