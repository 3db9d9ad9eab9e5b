#!/usr/bin/env python3
"""bench/gen-history.py — a synthetic access repository with a long history.

Usage: bench/gen-history.py --lifecycles N --active K [--seed S] [--shape merge|linear] OUT_DIR

Writes a git repository into OUT_DIR (which must not exist or be empty) that
looks like an access repository after N grants have gone through their whole
life, fed to ONE `git fast-import` stream so that 100,000 commits take seconds:

  * the first commit on `main` (2024-01-01T00:00:00Z) adds gitgrant.yaml and
    .github/CODEOWNERS, copied from examples/access-repo/;
  * then, for each lifecycle i (0-based, in the order the grants land):
      1. a request commit on a side branch, forked from main as it was when the
         request was made, adding grants/<role>/<subject>-<yyyymmdd>-<4hex>.yaml,
         authored by the subject;
      2. a merge commit on main with two parents (main, the request commit),
         message `Merge pull request #<n> from <subject>/grant-<i>`: this is
         where the grant lands;
      3. except for the last K lifecycles, a removal commit on main deleting the
         file once its window has ended (window end + 2..12 minutes), with the
         subject, body and trailers of DESIGN.md §3 (Reason: expired).
    So a lifecycle is 3 commits: `--lifecycles 33334` gives about 100,000.
  * `--shape linear` writes the history a repository that squash-merges (or
    rebases) gets instead: no request commits and no merges, each grant
    landed by ONE commit on main (`Request <role> for <subject> (#<n>)`,
    authored by the subject, committed by GitHub) and removed by another,
    every commit on the first-parent chain: `--lifecycles 50000` gives about
    100,000 commits.
  * Every grant is valid for the example policy: prod-readonly (alice, bob,
    carol, dave, erin; ticket optional), staging-vendor (vendor-globex or dave,
    ticket VND-<n>), prod-admin (carol, ticket CHG-<n>); prod-break-glass is not
    used. Windows are `duration:` (from landing), `starts:` + `expires:`, or
    `expires:` alone (from landing), never longer than the role's max_duration;
    explicit times carry assorted UTC offsets.
  * Lifecycles overlap as they do in real life: merges are 2..8 minutes apart,
    windows last up to 3 days, so removals interleave with later merges and
    requests are forked from an older main. The last K lifecycles are still
    present at the tip and all active at one time T, printed on stdout as
    `active-at: <RFC 3339>`: they have explicit starts/expires windows that
    contain T (and begin no earlier than their landing). T is later than every
    commit, so `gitgrant validate|expire --repo OUT_DIR --now T` sees exactly K
    active grants.

Commit times are pinned and strictly increasing over the whole stream (every
commit is later than the one before it, side branches included); about a
quarter of them carry a non-UTC offset (+05:45, -03:30, +01:00, -07:00) to
exercise offset handling. Names are fixed: requests are authored by the
subject, merges by a per-role approver and committed by GitHub, removals by
gitgrant[bot]. The same arguments and seed give the same commit ids.

`Gitgrant-Landed:` holds the 7-character short id of the merge commit, as the
reconciler writes it. fast-import cannot tell ids before it is done, so this
script computes every blob, tree and commit id itself (plain git object
hashing) and, after the import, checks each one against the ids fast-import
exported: any disagreement is an error, never a silently wrong trailer.
(Among ~300,000 objects a 7-character prefix is occasionally ambiguous, as it
would be in a real repository of that size.)

After the import the temporary side-branch ref is deleted, `main` is checked
out (`git checkout -f main`), and a summary is written to
OUT_DIR/.git/gen-history.txt (`key: value` lines, active-at among them) so that
a caller reusing the repository can find T again. On stderr: progress, the
commit count and the elapsed time. Python 3 standard library and git only.
"""

import argparse
import hashlib
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

EPOCH0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
HEADER = "# yaml-language-server: $schema=../../schema/grant.schema.json\n"
PROD = ["alice", "bob", "carol", "dave", "erin"]
# role: (weight, subjects, ticket prefix or None, durations, max_duration in minutes)
ROLES = {
    "prod-readonly": (60, PROD, None, ["30m", "1h", "1h30m", "2h", "4h", "8h"], 8 * 60),
    "prod-admin": (20, ["carol"], "CHG", ["30m", "1h", "1h30m", "2h", "4h"], 4 * 60),
    "staging-vendor": (20, ["vendor-globex", "dave"], "VND", ["12h", "1d", "1d12h", "2d", "3d"], 3 * 24 * 60),
}
PROVIDER = {"prod-readonly": "aws-prod", "prod-admin": "aws-prod", "staging-vendor": "aws-staging"}
# Who merges the pull request (an approver of the role, never a subject).
MERGER = {"prod-readonly": "frank", "prod-admin": "grace", "staging-vendor": "heidi"}
REASONS = {
    "prod-readonly": ["{t}: checkout latency in eu-west-1", "Quarterly access review of production log retention",
                      "Investigate elevated 5xx rates on the payments API", "{t}: compare metrics before and after the deploy"],
    "prod-admin": ["{t}: rotate the payments database master credentials", "{t}: resize the orders cluster",
                   "{t}: apply the approved IAM boundary change"],
    "staging-vendor": ["Globex migrates the staging pipeline to the new schema (contract {t})",
                       "{t}: Globex reruns the nightly backfill"],
}
FILE_OFFSETS = [0, 0, 60, 120, -300, -420, 330, 345, -210, 540]   # minutes east of UTC, in grant files
COMMIT_OFFSETS = [345, -210, 60, -420]                             # +05:45 -03:30 +01:00 -07:00
BOT = "gitgrant[bot] <gitgrant[bot]@users.noreply.github.com>"
GITHUB = "GitHub <noreply@github.com>"
SCRATCH = "refs/heads/gen-history-request"


def parse_duration(s):
    """Minutes in `1d12h`, `1h30m`, `30m`…"""
    total, num = 0, ""
    for c in s:
        if c.isdigit():
            num += c
        else:
            total += int(num) * {"d": 1440, "h": 60, "m": 1}[c]
            num = ""
    return total


def rfc3339(epoch, offset=0):
    """RFC 3339 with `Z` for UTC, `±hh:mm` otherwise; whole seconds."""
    t = datetime.fromtimestamp(epoch, timezone(timedelta(minutes=offset)))
    s = t.isoformat()
    return s[:-6] + "Z" if offset == 0 else s


def git_tz(offset):
    sign = "+" if offset >= 0 else "-"
    return f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


def obj_id(kind, body):
    return hashlib.sha1(b"%s %d\0" % (kind, len(body)) + body).digest()


class Tree:
    """The tracked files of one commit, enough to hash its tree the way git
    does: gitgrant.yaml and .github/CODEOWNERS (fixed) and grants/<role>/*."""

    def __init__(self, fixed_root_entries):
        self.fixed = fixed_root_entries   # {sort key: entry bytes}, never change
        self.roles = {}                   # role -> {file name: entry bytes}
        self.role_ids = {}                # role -> tree id (cache)

    def copy(self):
        t = Tree(self.fixed)
        t.roles = {r: dict(f) for r, f in self.roles.items()}
        t.role_ids = dict(self.role_ids)
        return t

    def add(self, role, name, blob):
        self.roles.setdefault(role, {})[name] = b"100644 " + name.encode() + b"\0" + blob
        self.role_ids.pop(role, None)

    def remove(self, role, name):
        del self.roles[role][name]
        if not self.roles[role]:
            del self.roles[role]          # git stores no empty directory
        self.role_ids.pop(role, None)

    def id(self):
        grants = []
        for role in sorted(self.roles, key=lambda r: r + "/"):
            rid = self.role_ids.get(role)
            if rid is None:
                files = self.roles[role]
                rid = obj_id(b"tree", b"".join(files[k] for k in sorted(files)))
                self.role_ids[role] = rid
            grants.append(b"40000 " + role.encode() + b"\0" + rid)
        entries = dict(self.fixed)
        if grants:
            entries["grants/"] = b"40000 grants\0" + obj_id(b"tree", b"".join(grants))
        return obj_id(b"tree", b"".join(entries[k] for k in sorted(entries)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lifecycles", type=int, required=True, metavar="N", help="grant lifecycles (3 commits each)")
    ap.add_argument("--active", type=int, default=0, metavar="K", help="the last K grants stay, active at T")
    ap.add_argument("--seed", type=int, default=20240101, help="random seed (default 20240101)")
    ap.add_argument("--shape", choices=("merge", "linear"), default="merge",
                    help="merge: request commits merged into main (default); linear: one commit lands each grant")
    ap.add_argument("out", metavar="OUT_DIR")
    a = ap.parse_args()
    n, k = a.lifecycles, a.active
    if n < 1 or not 0 <= k <= n:
        ap.error("need --lifecycles N >= 1 and 0 <= --active K <= N")
    if os.path.exists(a.out) and (not os.path.isdir(a.out) or os.listdir(a.out)):
        ap.error(f"{a.out} exists and is not an empty directory")
    t_start = time.monotonic()
    rng = random.Random(a.seed)
    here = os.path.dirname(os.path.abspath(__file__))
    example = os.path.join(here, "..", "examples", "access-repo")
    with open(os.path.join(example, "gitgrant.yaml"), "rb") as f:
        policy = f.read()
    with open(os.path.join(example, ".github", "CODEOWNERS"), "rb") as f:
        codeowners = f.read()

    # --- 1. Plan every lifecycle: times, windows, file contents. -------------------
    used = set()      # every commit time, so that all of them are distinct

    def claim(t):
        while t in used:
            t += 1
        used.add(t)
        return t

    t0 = int(EPOCH0.timestamp())
    used.add(t0)
    names = list(ROLES)
    weights = [ROLES[r][0] for r in names]
    seen_paths = set()
    lives = []
    merge_t = t0
    pr = 0
    for i in range(n):
        merge_t += rng.randint(120, 480)               # a few minutes apart
        merge_t = claim(merge_t)
        pr += rng.choice((1, 1, 1, 2, 3))              # issues share the numbering
        role = rng.choices(names, weights)[0]
        _, subjects, prefix, durations, max_min = ROLES[role]
        subject = rng.choice(subjects)
        ticket = f"{prefix}-{rng.randint(1, 99999)}" if prefix else None
        if ticket is None and rng.random() < 0.3:
            ticket = f"INC-{rng.randint(1, 99999)}"
        templates = REASONS[role] if ticket else [r for r in REASONS[role] if "{t}" not in r]
        reason = rng.choice(templates).format(t=ticket)
        # The request: up to 6 hours before the merge, forked from main as it was.
        request_t = max(merge_t - rng.randint(300, 6 * 3600), (t0 + merge_t) // 2)
        life = dict(i=i, pr=pr, role=role, subject=subject, ticket=ticket, reason=reason,
                    merge_t=merge_t, request_t=request_t, active=i >= n - k, max_min=max_min)
        if not life["active"]:
            kind = rng.random()
            if kind < 0.5:
                d = rng.choice(durations)
                life.update(duration=d, start=merge_t, end=merge_t + 60 * parse_duration(d))
            else:
                length = 60 * 15 * rng.randint(1, max_min // 15)
                if kind < 0.85:                        # scheduled: begins at or after landing
                    start = (merge_t // 60 + rng.randint(1, 24 * 60)) * 60
                    life.update(starts=start, start=start, end=start + length, offset=rng.choice(FILE_OFFSETS))
                else:                                  # expires alone: from landing
                    end = (merge_t // 60 + 1) * 60 + length - 60
                    life.update(start=merge_t, end=end, offset=rng.choice(FILE_OFFSETS))
                life["expires"] = life["end"]
            life["removal_t"] = life["end"] + rng.randint(120, 720)
        lives.append(life)

    # Removals may come after the last merge; T follows every commit.
    last = max([merge_t] + [l["removal_t"] for l in lives if not l["active"]])
    active_at = (last // 60 + 15) * 60
    for l in lives:
        if l["active"]:                                # an explicit window holding T
            length = 60 * 15 * rng.randint(2, l["max_min"] // 15)
            landed = (l["merge_t"] // 60 + 1) * 60
            start = active_at - 60 - rng.randint(0, length - 120) // 60 * 60
            start = max(start, landed)
            l.update(starts=start, expires=start + length, start=start, end=start + length,
                     offset=rng.choice(FILE_OFFSETS))

    # Names and contents, in landing order (the date is the request's, UTC).
    for l in lives:
        day = datetime.fromtimestamp(l["request_t"], timezone.utc).strftime("%Y%m%d")
        while True:
            name = f"{l['subject']}-{day}-{rng.getrandbits(16):04x}"
            if (l["role"], name) not in seen_paths:
                break
        seen_paths.add((l["role"], name))
        reason = l["reason"]
        if ":" in reason:
            reason = '"' + reason + '"'
        lines = [f"subject: {l['subject']}", f"role: {l['role']}", f"reason: {reason}"]
        if l["ticket"]:
            lines.append(f"ticket: {l['ticket']}")
        if "duration" in l:
            lines.append(f"duration: {l['duration']}")
        else:
            if "starts" in l:
                lines.append(f"starts: {rfc3339(l['starts'], l['offset'])}")
            lines.append(f"expires: {rfc3339(l['expires'], l['offset'])}")
        content = (HEADER + "\n".join(lines) + "\n").encode()
        l.update(name=name, file=f"{name}.yaml", path=f"grants/{l['role']}/{name}.yaml", content=content,
                 blob=obj_id(b"blob", content))

    # Request times: distinct from everything, in request order.
    for l in sorted(lives, key=lambda l: (l["request_t"], l["i"])):
        l["request_t"] = claim(l["request_t"])
        assert t0 < l["request_t"] < l["merge_t"]
    for l in lives:
        if not l["active"]:
            l["removal_t"] = claim(l["removal_t"])

    # --- 2. Events in time order, and the fast-import stream. -------------------------
    events = []
    for l in lives:
        events.append((l["request_t"], 0, l))
        events.append((l["merge_t"], 1, l))
        if not l["active"]:
            events.append((l["removal_t"], 2, l))
    events.sort(key=lambda e: e[0])
    assert all(events[j][0] < events[j + 1][0] for j in range(len(events) - 1))
    assert not events or events[0][0] > t0

    os.makedirs(a.out, exist_ok=True)
    out = os.path.abspath(a.out)
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"):
        env.pop(key, None)

    def git(*args, **kw):
        return subprocess.run(["git", "-C", out, *args], env=env, check=True, **kw)

    git("init", "--quiet", "--initial-branch=main")
    marks_file = os.path.join(out, ".git", "gen-history.marks")
    fi = subprocess.Popen(["git", "-C", out, "fast-import", "--quiet", "--done", f"--export-marks={marks_file}"],
                          stdin=subprocess.PIPE, env=env)
    w = fi.stdin
    buf = []

    def emit(*parts):
        buf.extend(parts)
        if len(buf) > 4096:
            flush()

    def flush():
        w.write(b"".join(buf))
        buf.clear()

    def data(b):
        return b"data %d\n%s\n" % (len(b), b)

    mark = 0
    expect = {}       # mark -> object id we computed

    def new_mark(oid):
        nonlocal mark
        mark += 1
        expect[mark] = oid
        return mark

    def ident(who, t, offset):
        return f"{who} {t} {git_tz(offset)}".encode()

    def commit_offset():
        return rng.choice(COMMIT_OFFSETS) if rng.random() < 0.25 else 0

    def commit(ref, tree, parents, author, committer, t, message, changes):
        """Emit one commit; returns (mark, id)."""
        off = commit_offset()
        a_line, c_line = ident(author, t, off), ident(committer, t, off)
        msg = message.encode()
        body = b"tree " + tree.id().hex().encode() + b"\n"
        for _, pid in parents:
            body += b"parent " + pid.hex().encode() + b"\n"
        body += b"author " + a_line + b"\ncommitter " + c_line + b"\n\n" + msg
        oid = obj_id(b"commit", body)
        m = new_mark(oid)
        head = [b"commit %s\nmark :%d\nauthor %s\ncommitter %s\n" % (ref.encode(), m, a_line, c_line), data(msg)]
        if parents:
            head.append(b"from :%d\n" % parents[0][0])
            for pm, _ in parents[1:]:
                head.append(b"merge :%d\n" % pm)
        emit(*head, *changes, b"\n")
        return m, oid

    # The first commit: policy and CODEOWNERS.
    policy_id, co_id = obj_id(b"blob", policy), obj_id(b"blob", codeowners)
    gh_tree = obj_id(b"tree", b"100644 CODEOWNERS\0" + co_id)
    main_tree = Tree({".github/": b"40000 .github\0" + gh_tree, "gitgrant.yaml": b"100644 gitgrant.yaml\0" + policy_id})
    pm = new_mark(policy_id)
    cm = new_mark(co_id)
    emit(b"blob\nmark :%d\n" % pm, data(policy), b"blob\nmark :%d\n" % cm, data(codeowners))
    main = commit("refs/heads/main", main_tree, [], "Security Team <security@acme.example>",
                  "Security Team <security@acme.example>", t0,
                  "Start the access repository\n\nThe policy and the CODEOWNERS generated from it.\n",
                  [b"M 100644 :%d gitgrant.yaml\n" % pm, b"M 100644 :%d .github/CODEOWNERS\n" % cm])
    commits = 1
    for t, what, l in events:
        role, subject = l["role"], l["subject"]
        if what == 0:       # the request, forked from main now
            l["blob_mark"] = new_mark(l["blob"])
            emit(b"blob\nmark :%d\n" % l["blob_mark"], data(l["content"]))
            if a.shape == "linear":
                continue        # only the squashed commit lands it
            tree = main_tree.copy()
            tree.add(role, l["file"], l["blob"])
            who = f"{subject} <{subject}@users.noreply.github.com>"
            l["request"] = commit(SCRATCH, tree, [main], who, who, t,
                                  f"Request {role} for {subject}\n\n{l['reason']}\n",
                                  [b"M 100644 :%d %s\n" % (l["blob_mark"], l["path"].encode())])
        elif what == 1 and a.shape == "linear":     # the squash merge: the grant lands
            main_tree.add(role, l["file"], l["blob"])
            who = f"{subject} <{subject}@users.noreply.github.com>"
            main = commit("refs/heads/main", main_tree, [main], who, GITHUB, t,
                          f"Request {role} for {subject} (#{l['pr']})\n\n{l['reason']}\n",
                          [b"M 100644 :%d %s\n" % (l["blob_mark"], l["path"].encode())])
            l["landed"] = main[1].hex()[:7]
        elif what == 1:     # the merge: the grant lands
            main_tree.add(role, l["file"], l["blob"])
            merger = MERGER[role]
            main = commit("refs/heads/main", main_tree, [main, l["request"]],
                          f"{merger} <{merger}@users.noreply.github.com>", GITHUB, t,
                          f"Merge pull request #{l['pr']} from {subject}/grant-{l['i']}\n\n"
                          f"Request {role} for {subject}\n",
                          [b"M 100644 :%d %s\n" % (l["blob_mark"], l["path"].encode())])
            l["landed"] = main[1].hex()[:7]
        else:               # the removal, after the window's end
            main_tree.remove(role, l["file"])
            gid = f"{role}/{l['name']}"
            end = rfc3339(l["end"])
            msg = (f"gitgrant: expire {gid}\n\n"
                   f"Access for {subject} to {role} ended at {end}.\n\n"
                   f"Gitgrant-Grant: {gid}\n"
                   f"Gitgrant-Subject: {subject}\n"
                   f"Gitgrant-Role: {role}\n"
                   f"Gitgrant-Provider: {PROVIDER[role]}\n"
                   f"Gitgrant-Window: {rfc3339(l['start'])}/{end}\n"
                   f"Gitgrant-Reason: expired\n"
                   f"Gitgrant-Landed: {l['landed']}\n"
                   f"Gitgrant-Revoked-At: {rfc3339(t)}\n")
            main = commit("refs/heads/main", main_tree, [main], BOT, BOT, t, msg,
                          [b"D %s\n" % l["path"].encode()])
        commits += 1
    emit(b"done\n")
    flush()
    w.close()
    if fi.wait() != 0:
        sys.exit(f"gen-history: git fast-import exited {fi.returncode}")

    # --- 3. Check our ids against git's, tidy up, check out. --------------------------
    got = {}
    with open(marks_file) as f:
        for line in f:
            m, oid = line.split()
            got[int(m[1:])] = oid
    bad = [m for m, oid in expect.items() if got.get(m) != oid.hex()]
    if bad:
        sys.exit(f"gen-history: {len(bad)} object ids differ from git's (first: mark :{bad[0]}, "
                 f"ours {expect[bad[0]].hex()}, git's {got.get(bad[0])}): the Landed trailers would be wrong")
    os.remove(marks_file)
    if a.shape == "merge":
        git("update-ref", "-d", SCRATCH)
    git("checkout", "--quiet", "-f", "main")
    elapsed = time.monotonic() - t_start
    removed = sum(1 for l in lives if not l["active"])
    with open(os.path.join(out, ".git", "gen-history.txt"), "w") as f:
        f.write(f"lifecycles: {n}\nactive: {k}\nseed: {a.seed}\nshape: {a.shape}\ncommits: {commits}\n"
                f"first-parent: {1 + n + removed}\nremovals: {removed}\n"
                f"head: {main[1].hex()}\nactive-at: {rfc3339(active_at)}\nelapsed-seconds: {elapsed:.1f}\n")
    print(f"gen-history: {commits} commits ({1 + n + removed} on main's first-parent chain, "
          f"{removed} removals, {k} grants active) in {elapsed:.1f} s", file=sys.stderr)
    print(f"active-at: {rfc3339(active_at)}")


if __name__ == "__main__":
    main()
