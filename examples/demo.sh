#!/usr/bin/env bash
# The main job: validate the example access repository, then walk one day of
# its life in git: the grants land, expire, and are removed in commits of
# their own (pushed to a bare remote), and the audit rebuilds it all.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --quiet --locked
gitgrant=$PWD/target/debug/gitgrant
step() { printf '\n== %s\n' "$*"; }

step "gitgrant validate --repo examples/access-repo"
"$gitgrant" validate --repo examples/access-repo --now 2026-11-23T12:00:00Z
"$gitgrant" codeowners --check --repo examples/access-repo && echo "CODEOWNERS: up to date"
"$gitgrant" schema --check --repo examples/access-repo && echo "schemas: up to date"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git_() { git -c user.name="Demo" -c user.email=demo@example.com -c init.defaultBranch=main "$@"; }

step "The access repository in git, with a bare remote as GitHub's stand-in"
git_ init -q --bare "$work/remote.git"
git_ clone -q "$work/remote.git" "$work/access" 2>/dev/null
cp -r examples/access-repo/. "$work/access/"
cd "$work/access"
git_ checkout -q -b main
git_ add -A
GIT_AUTHOR_DATE=2026-11-23T10:00:00Z GIT_COMMITTER_DATE=2026-11-23T10:00:00Z \
  git_ commit -q -m "Merge pull request #1 from acme/bootstrap"
git_ push -q origin main
git log --oneline

step "gitgrant expire --push origin --now 2026-11-23T12:30:00Z (alice's 2h and carol's 1h30m have ended)"
"$gitgrant" expire --push origin --now 2026-11-23T12:30:00Z

step "gitgrant expire --push origin --now 2026-11-27T00:00:00Z (the scheduled windows have ended too)"
"$gitgrant" expire --push origin --now 2026-11-27T00:00:00Z

step "The removal commits on the remote, and their trailers read by plain git"
git -C "$work/remote.git" log --format='%h %s' main
git -C "$work/remote.git" log -1 --format=%B main
echo "Expired grants: $(git -C "$work/remote.git" log --format='%(trailers:key=Gitgrant-Grant,valueonly)' main | grep -v '^$' | tr '\n' ' ')"

step "gitgrant audit: every lifecycle, rebuilt from history alone"
"$gitgrant" audit --now 2026-11-27T00:00:00Z

step "gitgrant audit --at 2026-11-24T10:00:00Z: who could use which role then"
"$gitgrant" audit --now 2026-11-27T00:00:00Z --at 2026-11-24T10:00:00Z
