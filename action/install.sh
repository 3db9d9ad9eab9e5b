#!/usr/bin/env bash
# Installs gitgrant for the runner's OS and architecture and puts it on PATH
# for the job's later steps: the release archive, checked against the SHA-256
# published beside it, or, with BUILD_FROM_SOURCE=true, built with
# `cargo install --locked` from the action's own checkout.
#
# Environment: ACTION_PATH, ACTION_REF, VERSION, BUILD_FROM_SOURCE,
# GITHUB_TOKEN (only to find the newest release of a major tag), and the
# runner's RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_PATH.
set -euo pipefail

repo=gitgrant/gitgrant
root="$RUNNER_TEMP/gitgrant"
mkdir -p "$root/bin"

if [ "${BUILD_FROM_SOURCE:-false}" = true ]; then
  cargo install --locked --path "$ACTION_PATH" --root "$root"
  echo "$root/bin" >>"$GITHUB_PATH"
  "$root/bin/gitgrant" --version
  exit 0
fi

case "$RUNNER_OS/$RUNNER_ARCH" in
  Linux/X64) target=x86_64-unknown-linux-gnu ;;
  Linux/ARM64) target=aarch64-unknown-linux-gnu ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  *)
    echo "::error::gitgrant publishes no binary for $RUNNER_OS/$RUNNER_ARCH; set build-from-source: true"
    exit 1
    ;;
esac

# The newest release vN.x.y of a major tag vN, by version number.
newest_of_major() {
  local auth=()
  if [ "${GITHUB_API_URL:-https://api.github.com}" = https://api.github.com ] && [ -n "${GITHUB_TOKEN:-}" ]; then
    auth=(-H "Authorization: Bearer $GITHUB_TOKEN")
  fi
  curl --fail --silent --show-error --location --retry 3 --proto '=https' \
    -H "Accept: application/vnd.github+json" ${auth[@]+"${auth[@]}"} \
    "https://api.github.com/repos/$repo/releases?per_page=100" |
    jq -r --arg prefix "$1." '
      [.[] | select(.draft == false and .prerelease == false and (.tag_name | startswith($prefix)))]
      | sort_by(.tag_name | ltrimstr("v") | split(".") | map(tonumber? // 0))
      | last | .tag_name // empty'
}

version=${VERSION:-}
ref=${ACTION_REF:-}
if [ -z "$version" ]; then
  if [[ "$ref" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
    version=$ref
  elif [[ "$ref" =~ ^v[0-9]+$ ]]; then
    version=$(newest_of_major "$ref")
    if [ -z "$version" ]; then
      echo "::error::gitgrant has no release $ref.x.y yet; set the version input"
      exit 1
    fi
  else
    echo "::warning::gitgrant: the action's ref '$ref' is not a release tag, so the latest release is installed; set the version input to pin one"
    version=latest
  fi
fi
if ! [[ "$version" =~ ^(latest|v[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?)$ ]]; then
  echo "::error::version must be latest or a release tag such as v0.2.0, not '$version'"
  exit 1
fi

if [ "$version" = latest ]; then
  url="https://github.com/$repo/releases/latest/download"
else
  url="https://github.com/$repo/releases/download/$version"
fi
asset="gitgrant-$target.tar.gz"
mkdir -p "$root/download"
cd "$root/download"
for file in "$asset" "$asset.sha256"; do
  curl --fail --silent --show-error --location --retry 3 --proto '=https' \
    --output "$file" "$url/$file"
done
# The checksum file names the archive; --check fails on any mismatch.
if command -v sha256sum >/dev/null; then
  sha256sum --check --strict "$asset.sha256"
else
  shasum --algorithm 256 --check "$asset.sha256"
fi
tar -xzf "$asset" -C "$root/bin" gitgrant
echo "$root/bin" >>"$GITHUB_PATH"
"$root/bin/gitgrant" --version
