#!/usr/bin/env bash
# The main job: the example access repository's grants applied to AWS IAM,
# to IAM Identity Center (a local moto_server standing in for two AWS
# accounts and for the account that holds the Identity Center instance)
# to Google Cloud IAM (a local stand-in for Resource Manager's IAM
# methods, since Google has no emulator of them) and to Azure through PIM
# (a local stand-in for ARM's PIM methods and Entra's token endpoint, since
# no emulator of PIM exists either) and to a real PostgreSQL database (a
# cluster of the demo's own, from Debian's package),
# revoked when they end, their files removed in commits of their own pushed
# to a bare remote standing in for GitHub, and every lifecycle rebuilt by
# the audit.
#
# Needs a Rust toolchain, git and python3; installs moto_server into a venv
# under target/ the first time, and ssh-keygen (openssh-client) and
# PostgreSQL's server (Debian's postgresql) if missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --quiet --locked
cargo build --quiet --locked --example gcp-stand-in --example azure-stand-in
gitgrant=$(realpath "${CARGO_TARGET_DIR:-target}")/debug/gitgrant
gcp_stand_in=$(realpath "${CARGO_TARGET_DIR:-target}")/debug/examples/gcp-stand-in
azure_stand_in=$(realpath "${CARGO_TARGET_DIR:-target}")/debug/examples/azure-stand-in
moto_server=$(scripts/moto-venv)
scripts/apt-need openssh-client ssh-keygen >/dev/null
pg_bin=$(dirname "$(scripts/apt-need postgresql '/usr/lib/postgresql/*/bin/postgres')")
python=$(dirname "$moto_server")/python
step() { printf '\n== %s\n' "$*"; }

work=$(mktemp -d)
moto_pid=
gcp_pid=
azure_pid=
pg_pid=
vendor_session=
cleanup() {
  [[ -n $vendor_session ]] && kill "$vendor_session" 2>/dev/null
  [[ -n $pg_pid ]] && kill -INT "$pg_pid" 2>/dev/null && { wait "$pg_pid" 2>/dev/null || true; }
  [[ -n $moto_pid ]] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  # The stand-in ends by the signal: its status is no failure of the demo.
  [[ -n $gcp_pid ]] && kill "$gcp_pid" 2>/dev/null && { wait "$gcp_pid" 2>/dev/null || true; }
  [[ -n $azure_pid ]] && kill "$azure_pid" 2>/dev/null && { wait "$azure_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap cleanup EXIT

step "gitgrant validate --repo examples/access-repo"
"$gitgrant" validate --repo examples/access-repo --now 2026-11-23T12:00:00Z

step "moto_server on 127.0.0.1, standing in for the accounts 111111111111 and 222222222222, and 999999999999 that holds the Identity Center instance"
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
        client = iam(account)
        for u in users:
            client.create_user(UserName=u)
        # The role prod-operator's customer-managed policy: Identity Center
        # attaches it by name and path in each account, so it must exist there.
        client.create_policy(PolicyName="ProdOperator", Path="/acme/", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecs:ListServices", "Resource": "*"}]}))
        print(f"  {account}: IAM users {', '.join(users)}; customer-managed policy /acme/ProdOperator")
    # The roles the example's aws-iam roles let people assume: gitgrant
    # fences each, so sessions of them end with the grant.
    client = iam("111111111111")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]})
    for role in ["ProdReadOnly", "ProdAdmin", "IncidentResponder"]:
        client.create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    print("  111111111111: roles ProdReadOnly, ProdAdmin, IncidentResponder")
    sys.exit()
shown = 0
for account in accounts:
    client = iam(account)
    for p in client.list_policies(Scope="Local", PathPrefix="/gitgrant/")["Policies"]:
        shown += 1
        doc = client.get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])["PolicyVersion"]["Document"]
        if isinstance(doc, str):
            doc = json.loads(urllib.parse.unquote(doc))
        if p["PolicyName"].startswith("gitgrant-fence."):
            roles = client.list_entities_for_policy(PolicyArn=p["Arn"])["PolicyRoles"]
            print(f"  {account} {p['Path']}{p['PolicyName']}")
            print(f"      session fence on role {', '.join(r['RoleName'] for r in roles)}:")
            for st in doc["Statement"]:
                c = st["Condition"]
                print(f"      deny * to session {c['StringEquals']['aws:userid']} issued"
                      f" {c['DateGreaterThanEquals']['aws:TokenIssueTime']} .. {c['DateLessThan']['aws:TokenIssueTime']},"
                      f" from {c['DateGreaterThan']['aws:CurrentTime']}")
            continue
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

# The same for IAM Identity Center, in the instance's account 999999999999
# (moto keeps one instance per account and makes up its ARN and identity
# store id): what its console would show.
sso() {
  "$python" - "$@" <<'PY'
import json, sys, boto3
sts = boto3.client("sts")
c = sts.assume_role(RoleArn="arn:aws:iam::999999999999:role/demo", RoleSessionName="demo")["Credentials"]
session = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"])
admin, store = session.client("sso-admin"), session.client("identitystore")
instance = admin.list_instances()["Instances"][0]
arn, store_id = instance["InstanceArn"], instance["IdentityStoreId"]
if sys.argv[1] == "users":
    users = ["alice@acme.com", "dave@acme.com"]
    for u in users:
        store.create_user(IdentityStoreId=store_id, UserName=u, DisplayName=u,
                          Name={"GivenName": u.split("@")[0], "FamilyName": "Acme"})
    with open(sys.argv[2], "w") as f:
        f.write(f"{arn} {store_id}\n")
    print(f"  999999999999: instance {arn}, identity store {store_id}")
    print(f"      Identity Store users {', '.join(users)}")
    sys.exit()
def when(cond):
    ops = {"DateGreaterThan": ">", "DateGreaterThanEquals": ">=", "DateLessThan": "<"}
    return " and ".join(f"aws:CurrentTime {ops[op]} {v['aws:CurrentTime']}" for op, v in cond.items())
sets = admin.list_permission_sets(InstanceArn=arn)["PermissionSets"]
for ps in sets:
    d = admin.describe_permission_set(InstanceArn=arn, PermissionSetArn=ps)["PermissionSet"]
    print(f"  permission set {d['Name']}: \"{d['Description']}\", session {d['SessionDuration']}")
    for account in ["111111111111", "222222222222"]:
        for a in admin.list_account_assignments(InstanceArn=arn, AccountId=account, PermissionSetArn=ps)["AccountAssignments"]:
            user = store.describe_user(IdentityStoreId=store_id, UserId=a["PrincipalId"])["UserName"]
            print(f"      assigned in {account} to {a['PrincipalType'].lower()} {user}")
    managed = [m["Arn"] for m in admin.list_managed_policies_in_permission_set(
        InstanceArn=arn, PermissionSetArn=ps)["AttachedManagedPolicies"]]
    customer = [f"{r['Path']}{r['Name']}" for r in admin.list_customer_managed_policy_references_in_permission_set(
        InstanceArn=arn, PermissionSetArn=ps)["CustomerManagedPolicyReferences"]]
    print(f"      managed {', '.join(managed)}; customer-managed {', '.join(customer)}")
    inline = json.loads(admin.get_inline_policy_for_permission_set(InstanceArn=arn, PermissionSetArn=ps)["InlinePolicy"])
    for st in inline["Statement"]:
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        print(f"      inline {st['Sid']}: {st['Effect']} {', '.join(actions)} when {when(st['Condition'])}")
if not sets:
    print("  (no permission sets)")
PY
}
sso users "$work/instance"
read -r instance_arn identity_store_id <"$work/instance"

step "A local stand-in for Google Cloud's Resource Manager on 127.0.0.1 (not Google: the tests' fake, which answers as Google documents), serving projects/acme-prod"
"$gcp_stand_in" "$work/gcp.env" "$work/gcp-policy.json" >"$work/gcp.log" 2>&1 &
gcp_pid=$!
for _ in $(seq 300); do [[ -s $work/gcp.env && -s $work/gcp-policy.json ]] && break; sleep 0.1; done
[[ -s $work/gcp.env ]] || { echo "the Google Cloud stand-in did not start" >&2; exit 1; }
# GOOGLE_APPLICATION_CREDENTIALS (an authorized_user file whose token
# endpoint is the stand-in) and gcloud's endpoint override.
# shellcheck disable=SC1091
source "$work/gcp.env"

# The project's allow policy as the stand-in holds it: what the console's
# IAM page would show, each binding with whose it is.
gcp() {
  "$python" - "$work/gcp-policy.json" <<'PY'
import json, sys
policy = json.load(open(sys.argv[1]))
for b in policy.get("bindings", []):
    c = b.get("condition")
    desc = (c or {}).get("description", "")
    if desc.startswith("gitgrant repository=acme/access "):
        grant = desc.split(" grant=", 1)[1]
        print(f"  {b['role']} for {', '.join(b['members'])}: gitgrant's, grant {grant}")
        print(f"      condition: {c['expression']}")
    else:
        print(f"  {b['role']} for {', '.join(b['members'])}: not gitgrant's, left as it is")
PY
}
echo "projects/acme-prod before any run:"
gcp

step "A local stand-in for Azure's PIM and Entra's token endpoint on 127.0.0.1 behind TLS (not Azure: the tests' fake, which answers as PIM's API documents), serving the production subscription"
# Its clock is the demo's --now: Azure ends an assignment at its end by that clock.
at() { echo "$1" >"$work/azure-clock"; }
at 2026-11-23T09:00:00Z
"$azure_stand_in" "$work/azure.env" "$work/azure-state.json" "$work/azure-clock" >"$work/azure.log" 2>&1 &
azure_pid=$!
for _ in $(seq 300); do [[ -s $work/azure.env && -s $work/azure-state.json ]] && break; sleep 0.1; done
[[ -s $work/azure.env ]] || { echo "the Azure stand-in did not start" >&2; exit 1; }
# AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE (the job's
# OIDC token in Actions), AZURE_AUTHORITY_HOST and the stand-in's test CA.
# shellcheck disable=SC1091
source "$work/azure.env"

# What PIM shows for the subscription: gitgrant's schedule requests (PIM
# names the reconciler as their requestor) and every assignment in force.
azure() {
  sleep 0.3  # the stand-in writes what it holds every 100 ms
  "$python" - "$work/azure-state.json" <<'PY'
import json, sys
state = json.load(open(sys.argv[1]))
names = {"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
         "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader"}
role = lambda r: names.get(r.rsplit("/", 1)[-1], r)
for r in state["requests"]:
    p = r["properties"]
    if not p.get("justification", "").startswith("[gitgrant acme/access "):
        continue
    s = p.get("scheduleInfo") or {}
    window = f" {s['startDateTime']} until {s['expiration']['endDateTime']}" if s else ""
    print(f"  request {r['name']}: {p['requestType']} {role(p['roleDefinitionId'])} for {p['principalId']}{window} ({p['status']})")
    print(f"      justification: {p['justification']}")
for a in state["in_force"]:
    end = a["end"] or "no end"
    print(f"  in force: {role(a['role'])} for {a['principal']}, ends {end}")
if not state["in_force"]:
    print("  (no assignment in force)")
PY
}
echo "The subscription before any run (the platform team's permanent Owner, not gitgrant's):"
azure

step "PostgreSQL on 127.0.0.1 (Debian's package, a cluster of the demo's own): the analytics database"
# PostgreSQL refuses to run as root: as root, the server runs as Debian's
# postgres user.
as_pg=()
mkdir "$work/pg"
if [[ $(id -u) -eq 0 ]]; then
  as_pg=(setpriv --reuid=postgres --regid=postgres --clear-groups)
  chown postgres: "$work/pg"
  chmod 711 "$work"
fi
"${as_pg[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U postgres --auth=trust -E UTF8 --no-sync >/dev/null
pg_port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$pg_bin/postgres" -D "$work/pg/data" -p "$pg_port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$work/pg" -c fsync=off >"$work/pg.log" 2>&1 &
pg_pid=$!
for _ in $(seq 300); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.1; done
psql_() { "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" "$@"; }
psql_ -U postgres -d postgres -c "CREATE DATABASE analytics"
psql_ -U postgres -d analytics <<'SQL'
CREATE SCHEMA sales; CREATE SCHEMA hr; CREATE SCHEMA reports;
CREATE TABLE sales.orders (id int, amount numeric);
INSERT INTO sales.orders SELECT g, g * 10 FROM generate_series(1, 500) g;
CREATE TABLE hr.salaries (employee int, salary numeric);
CREATE TABLE reports.daily (day date, revenue numeric);
-- The vendor's own login, which the database already has; a reporting role.
CREATE ROLE vendor_globex LOGIN;
CREATE ROLE reporting NOLOGIN;
GRANT USAGE ON SCHEMA reports TO reporting; GRANT SELECT ON reports.daily TO reporting;
SQL
# What the vendor's login can do, and gitgrant's roles there.
pg() {
  for q in "SELECT count(*) FROM sales.orders" "SELECT count(*) FROM hr.salaries" "INSERT INTO sales.orders VALUES (0, 0)"; do
    if out=$(psql_ -U vendor_globex -d analytics -tA -c "$q" 2>&1); then
      echo "  vendor_globex: $q -> ${out:-done}"
    else
      out=${out#*ERROR:  }
      echo "  vendor_globex: $q -> refused (${out%%$'\n'*})"
    fi
  done
  psql_ -U postgres -d analytics -tA -c "SELECT '  role ' || r.rolname || ', comment \"' || shobj_description(r.oid, 'pg_authid') || '\", held by ' || coalesce(string_agg(m.rolname, ', '), 'no one') FROM pg_roles r LEFT JOIN pg_auth_members a ON a.roleid = r.oid LEFT JOIN pg_roles m ON m.oid = a.member AND m.rolname <> 'gitgrant' WHERE r.rolname LIKE 'gitgrant\\_%' GROUP BY r.rolname, r.oid"
}
echo "The vendor's login before any run:"
pg

step "The access repository in git, with a bare remote as GitHub's stand-in"
git_() { git -c user.name="Demo" -c user.email=demo@example.com -c init.defaultBranch=main "$@"; }
git_ init -q --bare "$work/remote.git"
git_ clone -q "$work/remote.git" "$work/access" 2>/dev/null
cp -r examples/access-repo/. "$work/access/"
cd "$work/access"
# The example names a placeholder instance; this one is moto's.
sed -i -e "s|instance_arn: .*|instance_arn: $instance_arn|" \
  -e "s|identity_store_id: .*|identity_store_id: $identity_store_id|" gitgrant.yaml
# Azure's management endpoint is the stand-in's (a sovereign cloud's would
# be named the same way).
sed -i -e "s|^    scope: /subscriptions/\(.*\)|    scope: /subscriptions/\1\n    management_endpoint: $AZURE_MANAGEMENT_ENDPOINT|" gitgrant.yaml
# The reconciler's signing key: in Actions a repository secret; its public
# half in .github/allowed_signers, which the security team owns.
ssh-keygen -q -t ed25519 -N '' -C gitgrant@acme-access -f "$work/signing-key"
printf 'gitgrant@acme-access namespaces="git,gitgrant" %s\n' \
  "$(cut -d' ' -f1,2 "$work/signing-key.pub")" >.github/allowed_signers
GITGRANT_SIGNING_KEY=$(cat "$work/signing-key")
export GITGRANT_SIGNING_KEY
git_ checkout -q -b main
# The policy first; then the grants on a branch, merged as GitHub's merge
# button does (two parents), so the audit finds a pull request behind each.
git_ add -A ':!grants'
GIT_AUTHOR_DATE=2026-11-23T09:00:00Z GIT_COMMITTER_DATE=2026-11-23T09:00:00Z \
  git_ commit -q -m "Access policy"
git_ checkout -q -b requests
git_ add -A
GIT_AUTHOR_DATE=2026-11-23T09:30:00Z GIT_COMMITTER_DATE=2026-11-23T09:30:00Z \
  git_ commit -q -m "Requests for alice, carol, bob, dave and the vendor"
git_ checkout -q main
GIT_AUTHOR_DATE=2026-11-23T10:00:00Z GIT_COMMITTER_DATE=2026-11-23T10:00:00Z \
  git_ merge -q --no-ff -m "Merge pull request #1 from acme/requests" requests
git_ push -q origin main
git log --oneline --graph
echo
echo "The reconciler's own database role, as \`gitgrant iam-policy --provider pg-analytics\` prints it:"
setup_sql=$("$gitgrant" iam-policy --provider pg-analytics)
echo "$setup_sql"
psql_ -U postgres -d analytics <<<"$setup_sql"
# Its URL comes from the environment (a repository secret in Actions).
export GITGRANT_PG_ANALYTICS="postgres://gitgrant@127.0.0.1:$pg_port/analytics?sslmode=disable"

step "gitgrant plan --now 2026-11-23T11:00:00Z (alice's, carol's and dave's windows are open)"
at 2026-11-23T11:00:00Z
"$gitgrant" plan --now 2026-11-23T11:00:00Z

step "gitgrant reconcile --push origin --now 2026-11-23T11:00:00Z"
at 2026-11-23T11:00:00Z
"$gitgrant" reconcile --push origin --now 2026-11-23T11:00:00Z
echo
echo "The policies in AWS; each ends by itself, even if no run ever comes:"
aws list
echo
echo "Identity Center: dave's permission set, assigned in both accounts; its inline"
echo "policy refuses every action outside the window, so it too ends without a run:"
sso list
echo
echo "Google Cloud: alice's binding on projects/acme-prod, whose condition is the"
echo "window (Google ends it by itself); the platform team's bindings untouched:"
gcp
echo
echo "Azure: alice's schedule requests, one per role, whose end is the window's"
echo "(Azure ends them by itself); the platform team's Owner untouched:"
azure

step "Again, a minute later: nothing to do, no write calls"
at 2026-11-23T11:01:00Z
"$gitgrant" reconcile --push origin --now 2026-11-23T11:01:00Z

step "gitgrant reconcile --push origin --now 2026-11-24T10:00:00Z (alice, carol and dave ended; bob's, the vendor's and alice's prod-operator windows opened)"
at 2026-11-24T10:00:00Z
"$gitgrant" reconcile --push origin --now 2026-11-24T10:00:00Z
echo
aws list
echo
echo "Identity Center: dave's permission set and its assignments are gone; alice's is new:"
sso list
echo
echo "Google Cloud: alice's ended binding removed, the rest as it was:"
gcp
echo
echo "Azure: alice's assignments ended at 13:00 by Azure itself; the run made no call"
echo "to end them, and removed her grant's file:"
azure
echo
echo "PostgreSQL: the vendor's window opened at 09:00; the run made the grant's role"
echo "(SELECT on every table of sales, and reporting) and granted it to their login:"
pg
# The vendor leaves a session open.
psql_ -U vendor_globex -d analytics -c "SELECT pg_sleep(600)" >"$work/vendor-session.log" 2>&1 &
vendor_session=$!

step "gitgrant reconcile --push origin --now 2026-11-27T00:00:00Z (every window has ended)"
at 2026-11-27T00:00:00Z
"$gitgrant" reconcile --push origin --now 2026-11-27T00:00:00Z
echo
aws list
sso list
echo
echo "PostgreSQL has no timed grant: this run ended the vendor's, took the role back,"
echo "dropped it and ended the vendor's open session:"
pg
wait "$vendor_session" 2>/dev/null || true
vendor_session=
echo "  the vendor's open session: $(grep -o 'terminating connection[^.]*' "$work/vendor-session.log" | head -n 1)"

step "The removal commits on the remote, and their trailers read by plain git"
git -C "$work/remote.git" log --format='%h %s' main
git -C "$work/remote.git" log -1 --format=%B main
echo "The removal commit of an Identity Center grant:"
git -C "$work/remote.git" log -1 --format=%B --grep='^Gitgrant-Provider: sso$' main
echo "Expired grants: $(git -C "$work/remote.git" log --format='%(trailers:key=Gitgrant-Grant,valueonly)' main | grep -v '^$' | tr '\n' ' ')"
echo "Each is signed by the reconciler's key, as plain git checks:"
git -C "$work/remote.git" -c gpg.ssh.allowedSignersFile="$work/access/.github/allowed_signers" \
  verify-commit main 2>&1

step "gitgrant audit: every lifecycle, rebuilt from history alone"
echo "(The demo's runs came a day apart, so the audit flags late removals. AWS, Google"
echo " and Azure refused each grant's access from its window's end, run or no run;"
echo " PostgreSQL has no timed grant, so the vendor's ended only at the late run:"
echo " its revocation says ended_by: run.)"
git_ pull -q --ff-only origin main
"$gitgrant" audit --now 2026-11-27T00:00:00Z

step "gitgrant audit --at 2026-11-24T10:00:00Z: who could use which role then"
"$gitgrant" audit --now 2026-11-27T00:00:00Z --at 2026-11-24T10:00:00Z
