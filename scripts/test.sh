#!/usr/bin/env bash
# The whole suite: trains a model into a temporary folder, checks the test stories with
# `rasa test`, then runs pytest (store tests on SQLite and PostgreSQL, action, channel and
# end-to-end REST tests against real servers started on free ports).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
export BOT_ENV=test
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -z "${BOT_TEST_MODEL:-}" ]; then
  echo "Training a model for the tests (into $tmp) ..."
  start=$(date +%s)
  if ! .venv/bin/rasa train --config config.yml --domain domain.yml --data data \
      --out "$tmp/models" --fixed-model-name test >"$tmp/train.log" 2>&1; then
    tail -n 60 "$tmp/train.log"; echo "Training failed." >&2; exit 1
  fi
  echo "Trained in $(( $(date +%s) - start )) s."
  export BOT_TEST_MODEL="$tmp/models/test.tar.gz"
fi

echo "Checking the test stories (rasa test core --fail-on-prediction-errors) ..."
if ! .venv/bin/rasa test core --model "$BOT_TEST_MODEL" --stories tests/stories \
    --fail-on-prediction-errors --out "$tmp/results" >"$tmp/rasa-test.log" 2>&1; then
  tail -n 60 "$tmp/rasa-test.log"
  cat "$tmp/results/failed_test_stories.yml" 2>/dev/null || true
  echo "Test stories failed." >&2; exit 1
fi
grep -E "Correct:|Accuracy:" "$tmp/rasa-test.log" | head -n 4 || true

.venv/bin/python -m pytest "$@"
