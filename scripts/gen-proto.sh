#!/usr/bin/env bash
# Generates TypeScript for proto/berth/v1/*.proto and proto/runtime/v1/*.proto (the CRI subset) with
# ts-proto into proto/gen/ (or into $1, which scripts/check-proto.sh uses to compare against the
# committed code). Needs protoc (apt protobuf-compiler) and the ts-proto dev dependency; the output is
# committed, so builds never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-proto/gen}"
plugin="node_modules/.bin/protoc-gen-ts_proto"
if ! command -v protoc >/dev/null; then
  echo "gen-proto: protoc is not installed (apt-get install protobuf-compiler)" >&2
  exit 1
fi
if [ ! -x "$plugin" ]; then
  echo "gen-proto: $plugin is missing (run npm install)" >&2
  exit 1
fi
mkdir -p "$out"
# Start clean so that a removed .proto file takes its generated code with it.
find "$out" -name '*.ts' -delete
opts=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node,useOptionals=messages,oneof=unions,enumsAsLiterals=true,outputJsonMethods=false
# proto/berth: int64 as number. proto/runtime (the CRI subset): int64 as bigint, because CRI's
# nanosecond timestamps exceed 2^53 and forceLong=number makes the decoder throw on them.
for spec in berth:number runtime:bigint; do
  protoc --plugin="protoc-gen-ts_proto=$plugin" --ts_proto_out="$out" --ts_proto_opt="$opts,forceLong=${spec#*:}" \
    --proto_path=proto $(find "proto/${spec%%:*}" -name '*.proto' | sort)
done
