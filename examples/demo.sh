#!/usr/bin/env bash
# The main job: the example access repository's grants applied to AWS IAM
# (a local moto_server standing in for two AWS accounts), revoked when they
# end, their files removed in commits of their own pushed to a bare remote
# standing in for GitHub, and every lifecycle rebuilt by the audit.
#
# Needs a Rust toolchain, git and python3; installs moto_server into a venv
# under target/ the first time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --quiet --locked
gitgrant=$PWD/target/debug/gitgrant
moto_server=$(scripts/moto-venv)
python=$(dirname "$moto_server")/python
step() { printf '\n== %s\n' "$*"; }

work=$(mktemp -d)
moto_pid=
cleanup() {
  [[ -n $moto_pid ]] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step "gitgrant validate --repo examples/access-repo"
"$gitgrant" validate --repo examples/access-repo --now 2026-11-23T12:00:00Z

step "moto_server on 127.0.0.1, standing in for the accounts 111111111111 and 222222222222"
port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN GITHUB_STEP_SUMMARY
"$python" - <<'PY'
import os, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("moto_server did not start")
PY

# A look at the accounts through boto3 (installed with moto): what the IAM
# console would show.
aws() {
  "$python" - "$@" <<'PY'
import json, sys, urllib.parse, boto3
def iam(account):
    sts = boto3.client("sts")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/demo", RoleSessionName="demo")["Credentials"]
    return boto3.client("iam", aws_access_key_id=c["AccessKeyId"],
                        aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
accounts = {"111111111111": ["alice", "bob.smith", "carol", "dave", "erin"],
            "222222222222": ["dave.ops", "vendor-globex"]}
if sys.argv[1] == "users":
    for account, users in accounts.items():
        for u in users:
            iam(account).create_user(UserName=u)
        print(f"  {account}: IAM users {', '.join(users)}")
    sys.exit()
shown = 0
for account in accounts:
    client = iam(account)
    for p in client.list_policies(Scope="Local")["Policies"]:
        shown += 1
        doc = client.get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])["PolicyVersion"]["Document"]
        if isinstance(doc, str):
            doc = json.loads(urllib.parse.unquote(doc))
        cond = doc["Statement"][0]["Condition"]
        who = client.list_entities_for_policy(PolicyArn=p["Arn"])["PolicyUsers"]
        print(f"  {account} {p['Path']}{p['PolicyName']}")
        print(f"      attached to {', '.join(u['UserName'] for u in who)}; every statement: "
              f"aws:CurrentTime > {cond['DateGreaterThan']['aws:CurrentTime']}"
              f" and < {cond['DateLessThan']['aws:CurrentTime']}"
              + ("; MFA" if "Bool" in cond else ""))
if not shown:
    print("  (no managed policies)")
PY
}
aws users

step "The access repository in git, with a bare remote as GitHub's stand-in"
git_() { git -c user.name="Demo" -c user.email=demo@example.com -c init.defaultBranch=main "$@"; }
git_ init -q --bare "$work/remote.git"
git_ clone -q "$work/remote.git" "$work/access" 2>/dev/null
cp -r examples/access-repo/. "$work/access/"
cd "$work/access"
git_ checkout -q -b main
# The policy first; then the grants on a branch, merged as GitHub's merge
# button does (two parents), so the audit finds a pull request behind each.
git_ add -A ':!grants'
GIT_AUTHOR_DATE=2026-11-23T09:00:00Z GIT_COMMITTER_DATE=2026-11-23T09:00:00Z \
  git_ commit -q -m "Access policy"
git_ checkout -q -b requests
git_ add -A
GIT_AUTHOR_DATE=2026-11-23T09:30:00Z GIT_COMMITTER_DATE=2026-11-23T09:30:00Z \
  git_ commit -q -m "Requests for alice, carol, bob and the vendor"
git_ checkout -q main
GIT_AUTHOR_DATE=2026-11-23T10:00:00Z GIT_COMMITTER_DATE=2026-11-23T10:00:00Z \
  git_ merge -q --no-ff -m "Merge pull request #1 from acme/requests" requests
git_ push -q origin main
git log --oneline --graph

step "gitgrant plan --now 2026-11-23T11:00:00Z (alice's and carol's windows are open)"
"$gitgrant" plan --now 2026-11-23T11:00:00Z

step "gitgrant reconcile --push origin --now 2026-11-23T11:00:00Z"
"$gitgrant" reconcile --push origin --now 2026-11-23T11:00:00Z
echo
echo "The policies in AWS; each ends by itself, even if no run ever comes:"
aws list

step "Again, a minute later: nothing to do, no write calls"
"$gitgrant" reconcile --push origin --now 2026-11-23T11:01:00Z

step "gitgrant reconcile --push origin --now 2026-11-24T10:00:00Z (alice and carol ended; bob's and the vendor's scheduled windows opened)"
"$gitgrant" reconcile --push origin --now 2026-11-24T10:00:00Z
echo
aws list

step "gitgrant reconcile --push origin --now 2026-11-27T00:00:00Z (every window has ended)"
"$gitgrant" reconcile --push origin --now 2026-11-27T00:00:00Z
echo
aws list

step "The removal commits on the remote, and their trailers read by plain git"
git -C "$work/remote.git" log --format='%h %s' main
git -C "$work/remote.git" log -1 --format=%B main
echo "Expired grants: $(git -C "$work/remote.git" log --format='%(trailers:key=Gitgrant-Grant,valueonly)' main | grep -v '^$' | tr '\n' ' ')"

step "gitgrant audit: every lifecycle, rebuilt from history alone"
echo "(The demo's runs came a day apart, so the audit flags late removals; AWS itself"
echo " refused each grant's access from its window's end, run or no run.)"
git_ pull -q --ff-only origin main
"$gitgrant" audit --now 2026-11-27T00:00:00Z

step "gitgrant audit --at 2026-11-24T10:00:00Z: who could use which role then"
"$gitgrant" audit --now 2026-11-27T00:00:00Z --at 2026-11-24T10:00:00Z
