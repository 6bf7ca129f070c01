#!/usr/bin/env bash
# Regenerates test/go-client/gen from proto/lnnode/v1 with buf (npm) and the
# Go plugins at pinned versions from the Go module proxy. The output is
# committed, so building the client needs only `go build`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
GOBIN="$bin" go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
GOBIN="$bin" go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
PATH="$bin:$PWD/node_modules/.bin:$PATH" buf generate --template test/go-client/buf.gen.yaml
