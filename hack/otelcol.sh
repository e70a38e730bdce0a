#!/usr/bin/env bash
# Builds the OpenTelemetry Collector with its builder (ocb) from Go
# modules, with the components hack/otelcol-builder.yaml lists, once, into
# a cache folder outside the repository, and prints the binary's path (for
# OTELCOL=$(hack/otelcol.sh)). The cache folder is named after a hash of
# the builder config, so changing the components builds a new collector.
# Cold, this takes many minutes on 2 cores; a warm run only checks that the
# binary is there. Everything it says goes to stderr: stdout is the path alone.
set -euo pipefail

OCB_VERSION=0.165.0
HERE=$(cd "$(dirname "$0")" && pwd)
CONFIG=$HERE/otelcol-builder.yaml
sum=$(sha256sum "$CONFIG" | cut -c1-12)
CACHE=${INTEROP_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/loglet}/otelcol-$OCB_VERSION-$sum
BIN=$CACHE/otelcol

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi
mkdir -p "$CACHE"
log() { echo "otelcol.sh: $*" >&2; }
log "building the OpenTelemetry Collector v$OCB_VERSION with ocb (once; many minutes)"
start=$(date +%s)
if [ ! -x "$CACHE/ocb" ]; then
	GOBIN=$CACHE go install "go.opentelemetry.io/collector/cmd/builder@v$OCB_VERSION" >&2
	mv "$CACHE/builder" "$CACHE/ocb"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$CONFIG" "$work/builder.yaml"
# ocb writes the sources and go.mod; the build itself is a plain go build
# so it gets the same flags as loglet's (static, trimmed, stripped).
(cd "$work" && "$CACHE/ocb" --config builder.yaml --skip-compilation) >&2
(cd "$work/build" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$BIN.tmp" .) >&2
mv "$BIN.tmp" "$BIN"
log "built in $(($(date +%s) - start))s: $("$BIN" --version)"
echo "$BIN"
