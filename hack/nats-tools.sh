#!/usr/bin/env bash
# Builds the tools a user reads the hub with, nobody here wrote: the NATS
# CLI (github.com/nats-io/natscli) and s2d (klauspost/compress, the S2
# stream format's own decoder), once, into a cache folder outside the
# repository, from the Go module proxy. Prints that folder.
set -euo pipefail

NATSCLI_VERSION=v0.5.0
# s2d comes from the klauspost/compress that go.mod pins.
COMPRESS_VERSION=$(cd "$(dirname "$0")/.." && go list -m -f '{{.Version}}' github.com/klauspost/compress)
CACHE=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/loglet/nats-tools-$NATSCLI_VERSION-$COMPRESS_VERSION

if [ -x "$CACHE/nats" ] && [ -x "$CACHE/s2d" ]; then
	echo "$CACHE"
	exit 0
fi
mkdir -p "$CACHE"
echo "nats-tools: building nats $NATSCLI_VERSION and s2d $COMPRESS_VERSION into $CACHE" >&2
GOBIN=$CACHE CGO_ENABLED=0 go install "github.com/nats-io/natscli/nats@$NATSCLI_VERSION" >&2
GOBIN=$CACHE CGO_ENABLED=0 go install "github.com/klauspost/compress/s2/cmd/s2d@$COMPRESS_VERSION" >&2
echo "$CACHE"
