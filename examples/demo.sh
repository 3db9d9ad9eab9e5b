#!/usr/bin/env bash
# The main job: validate the example access repository and show what it holds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --quiet --locked
gitgrant=target/debug/gitgrant

echo "== gitgrant validate --repo examples/access-repo"
"$gitgrant" validate --repo examples/access-repo --now 2026-11-23T12:00:00Z

echo
echo "== CODEOWNERS and schemas are in step with the policy"
"$gitgrant" codeowners --check --repo examples/access-repo && echo "CODEOWNERS: up to date"
"$gitgrant" schema --check --repo examples/access-repo && echo "schemas: up to date"
