#!/usr/bin/env bash
# bench/reconcile.sh [N] — a steady-state plan over N applied grants
# (default 500): `gitgrant plan` against `terraform plan` (the tool a team
# would otherwise keep such policies in: one aws_iam_policy and one
# aws_iam_user_policy_attachment per grant), both against one moto_server,
# in the same run. Needs terraform and the hashicorp/aws provider in a
# local mirror (TF_PLUGIN_MIRROR, default /opt/tf-plugins).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh

N=${1:-500}
PEOPLE=$(( (N + 9) / 10 ))     # ten grants each: IAM's default quota
RUNS=${RUNS:-5}
MIRROR=${TF_PLUGIN_MIRROR:-/opt/tf-plugins}
command -v terraform >/dev/null || die "terraform is not installed"
[[ -d $MIRROR/registry.terraform.io/hashicorp/aws ]] || die "no hashicorp/aws provider under $MIRROR"

cargo build --quiet --locked --release
gitgrant=$PWD/target/release/gitgrant
moto_server=$(scripts/moto-venv)
python=$(dirname "$moto_server")/python
WORK=$PWD/target/bench-reconcile
rm -rf "$WORK" && mkdir -p "$WORK"

port=$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$moto_server" -H 127.0.0.1 -p "$port" >"$WORK/moto.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null' EXIT
export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN GITHUB_STEP_SUMMARY
"$python" - "$PEOPLE" <<'PY'
import sys, time, urllib.request, os, boto3
for _ in range(300):
    try:
        urllib.request.urlopen(os.environ["AWS_ENDPOINT_URL"] + "/moto-api/", timeout=1); break
    except OSError:
        time.sleep(0.1)
iam = boto3.client("iam")
for i in range(int(sys.argv[1])):
    iam.create_user(UserName=f"user{i}")
    iam.create_user(UserName=f"tf-user{i}")
PY

log "an access repository of $N grants for $PEOPLE people"
repo=$WORK/access
mkdir -p "$repo/grants/ro"
{
  printf 'version: 1\nrepository: acme/access\nsecurity_team: "@acme/security"\n'
  printf 'providers:\n  aws-prod: { type: aws-iam, account: "123456789012" }\npeople:\n'
  for ((p = 0; p < PEOPLE; p++)); do printf '  user%d: { aws_iam_user: user%d }\n' "$p" "$p"; done
  printf 'roles:\n  ro:\n    description: Read-only\n    provider: aws-prod\n    max_duration: 8h\n'
  printf '    approvers: ["@acme/sre"]\n    permissions:\n      assume_roles: [arn:aws:iam::123456789012:role/ReadOnly]\n'
  printf '      statements:\n        - { effect: Allow, actions: ["logs:GetLogEvents"], resources: ["*"] }\n'
} >"$repo/gitgrant.yaml"
for ((i = 0; i < N; i++)); do
  printf 'subject: user%d\nrole: ro\nreason: Bench %d\nduration: 8h\n' $((i % PEOPLE)) "$i" \
    >"$repo/grants/ro/user$((i % PEOPLE))-$i.yaml"
done
git -C "$repo" init -q -b main
git -C "$repo" add -A
GIT_COMMITTER_DATE=2026-11-23T10:00:00Z GIT_AUTHOR_DATE=2026-11-23T10:00:00Z \
  git -C "$repo" -c user.name=b -c user.email=b@e commit -qm "Merge pull request #1"
now=2026-11-23T12:00:00Z
"$gitgrant" reconcile --repo "$repo" --now $now --format json >"$WORK/apply.json"
"$gitgrant" plan --repo "$repo" --now $now --format json >"$WORK/plan.json"

log "the same policies in terraform (applying them takes a while)"
tf=$WORK/tf
mkdir -p "$tf"
cat >"$WORK/terraformrc" <<EOF
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct { exclude = ["registry.terraform.io/hashicorp/aws"] }
}
EOF
export TF_CLI_CONFIG_FILE=$WORK/terraformrc TF_IN_AUTOMATION=1
aws_version=$(ls "$MIRROR/registry.terraform.io/hashicorp/aws" | sort -V | tail -1)
cat >"$tf/main.tf" <<EOF
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "$aws_version" }
  }
}
provider "aws" {
  region                      = "us-east-1"
  access_key                  = "bench"
  secret_key                  = "bench"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    iam = "$AWS_ENDPOINT_URL"
    sts = "$AWS_ENDPOINT_URL"
  }
}
variable "grants" { default = $N }
resource "aws_iam_policy" "grant" {
  count = var.grants
  name  = "tf-ro-\${count.index}"
  path  = "/tf/"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      { Sid = "AssumeRoles", Effect = "Allow", Action = "sts:AssumeRole",
        Resource = ["arn:aws:iam::123456789012:role/ReadOnly"],
        Condition = {
          DateGreaterThan = { "aws:CurrentTime" = "2026-11-23T10:00:00Z" }
          DateLessThan    = { "aws:CurrentTime" = "2026-11-23T18:00:00Z" }
          StringEquals    = { "sts:RoleSessionName" = "\$\${aws:username}" }
        } },
      { Sid = "Statement0", Effect = "Allow", Action = ["logs:GetLogEvents"], Resource = ["*"],
        Condition = {
          DateGreaterThan = { "aws:CurrentTime" = "2026-11-23T10:00:00Z" }
          DateLessThan    = { "aws:CurrentTime" = "2026-11-23T18:00:00Z" }
        } }
    ]
  })
}
resource "aws_iam_user_policy_attachment" "grant" {
  count      = var.grants
  user       = "tf-user\${count.index % $PEOPLE}"
  policy_arn = aws_iam_policy.grant[count.index].arn
}
EOF
terraform -chdir="$tf" init -input=false >"$WORK/tf-init.log"
terraform -chdir="$tf" apply -input=false -auto-approve >"$WORK/tf-apply.log"
terraform -chdir="$tf" plan -input=false -lock=false -detailed-exitcode >"$WORK/tf-plan.log" \
  || die "terraform's steady-state plan is not empty (see $WORK/tf-plan.log)"

time_cmd gitgrant "$RUNS" 1 "$gitgrant" plan --repo "$repo" --now $now --detailed-exitcode
time_cmd terraform "$RUNS" 1 terraform -chdir="$tf" plan -input=false -lock=false -detailed-exitcode

read -r g_med g_best g_runs <"$WORK/gitgrant.times"
read -r t_med t_best t_runs <"$WORK/terraform.times"
"$python" - "$WORK" "$N" "$g_med" "$g_best" "$t_med" "$t_best" "$TIMER" <<'PY'
import json, sys
work, n, g_med, g_best, t_med, t_best, timer = sys.argv[1:]
apply = json.load(open(f"{work}/apply.json"))["calls"]["aws-prod"]
plan = json.load(open(f"{work}/plan.json"))["calls"]["aws-prod"]
g_med, g_best, t_med, t_best = map(float, (g_med, g_best, t_med, t_best))
print(f"steady-state plan over {n} applied grants, one moto_server ({timer}):")
print(f"  gitgrant plan    median {g_med:.3f} s  best {g_best:.3f} s  calls: {sum(plan['reads'].values())} reads, {sum(plan['writes'].values())} writes {plan['reads']}")
print(f"  terraform plan   median {t_med:.3f} s  best {t_best:.3f} s")
print(f"  ratio terraform/gitgrant (medians): {t_med / g_med:.1f}x")
print(f"  applying the {n} grants took gitgrant {sum(apply['writes'].values())} writes")
PY
