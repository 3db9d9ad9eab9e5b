#!/usr/bin/env bash
# Runs `gitgrant COMMAND ARGS` and sets the action's outputs. plan, reconcile
# and validate run with --format json: the JSON is printed to the log, kept in
# a file (output `json`) and counted into the `changes` and `errors` outputs.
# Exits with gitgrant's own exit code.
#
# Environment: COMMAND, ARGS (split on white space), and the runner's
# RUNNER_TEMP and GITHUB_OUTPUT.
set -euo pipefail

args=()
read -r -d '' -a args <<<"${ARGS:-}" || true
status=0
case "$COMMAND" in
  plan | reconcile | validate)
    out=$(mktemp "$RUNNER_TEMP/gitgrant-$COMMAND.XXXXXX")
    gitgrant "$COMMAND" ${args[@]+"${args[@]}"} --format json >"$out" || status=$?
    cat "$out"
    changes=""
    errors=""
    if jq -e . "$out" >/dev/null 2>&1; then
      if [ "$COMMAND" = validate ]; then
        changes=0
        errors=$(jq '.violations | length' "$out")
      else
        changes=$(jq '.plan.changes | length' "$out")
        errors=$(jq '(.invalid | length) + (.invalid_policy | length) + (.errors | length)
          + (.plan.refused | length) + ([.applied[]? | select(.ok | not)] | length)' "$out")
      fi
    else
      echo "::warning::gitgrant $COMMAND printed no JSON (exit $status); the changes and errors outputs are empty"
    fi
    {
      echo "changes=$changes"
      echo "errors=$errors"
      echo "json=$out"
    } >>"$GITHUB_OUTPUT"
    ;;
  *)
    gitgrant "$COMMAND" ${args[@]+"${args[@]}"} || status=$?
    ;;
esac
echo "exit-code=$status" >>"$GITHUB_OUTPUT"
exit "$status"
