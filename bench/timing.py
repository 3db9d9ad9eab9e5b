#!/usr/bin/env python3
"""bench/timing.py — wall-clock timing for the benchmark scripts (bench/lib.sh).

    timing.py one  OUT RUNS WARMUP CMD...
        times CMD RUNS times after WARMUP untimed runs; writes
        "median best runs" (seconds) to OUT.
    timing.py pair OUT_A OUT_B OUT_RATIO RUNS N CMD_A... CMD_B...
        times A and B alternately (A, B, A, B, ... after one warm-up of each),
        CMD_A being the first N words, so that a machine whose speed drifts
        (a shared virtual machine) slows both alike; writes each one's
        "median best runs" and the median of the per-pair ratios B/A.

Output of the commands is discarded; a failed run is fatal.
"""
import statistics
import subprocess
import sys
import time


def once(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.stderr.write(p.stderr.decode(errors="replace")[-3000:])
        sys.exit(f"bench: error: {cmd[0]} exited {p.returncode}")
    return t


def write(path, *values):
    with open(path, "w") as f:
        print(*values, file=f)


def summary(times):
    return statistics.median(times), min(times), len(times)


def main(args):
    if args[0] == "one":
        out, runs, warmup, cmd = args[1], int(args[2]), int(args[3]), args[4:]
        for _ in range(warmup):
            once(cmd)
        write(out, *summary([once(cmd) for _ in range(runs)]))
    elif args[0] == "pair":
        out_a, out_b, out_ratio, runs, n = args[1], args[2], args[3], int(args[4]), int(args[5])
        cmd_a, cmd_b = args[6:6 + n], args[6 + n:]
        once(cmd_a)
        once(cmd_b)
        ta, tb = [], []
        for _ in range(runs):
            ta.append(once(cmd_a))
            tb.append(once(cmd_b))
        write(out_a, *summary(ta))
        write(out_b, *summary(tb))
        write(out_ratio, statistics.median(b / a for a, b in zip(ta, tb)))
    else:
        sys.exit(f"bench: error: timing.py: unknown mode {args[0]!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
