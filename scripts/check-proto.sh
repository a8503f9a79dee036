#!/usr/bin/env bash
# Fails (exit 1, with a diff) when the committed generated code in proto/gen/ differs from what
# scripts/gen-proto.sh produces from proto/berth/**/*.proto now. Regenerate with `npm run proto`.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/gen-proto.sh "$tmp/gen"
if ! diff -ru proto/gen "$tmp/gen"; then
  echo "check-proto: proto/gen is out of date with proto/*.proto: run \`npm run proto\` and commit the result" >&2
  exit 1
fi
echo "check-proto: proto/gen is up to date"
