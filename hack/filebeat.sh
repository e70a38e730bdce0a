#!/usr/bin/env bash
# Builds Filebeat from its Go module source, once, into a cache folder
# outside the repository, and prints the binary's path (for
# FILEBEAT=$(hack/filebeat.sh)). make interop points it at loglet's
# lumberjack input through its logstash output.
# The module proxy serves github.com/elastic/beats/v7 only at v7.17.29
# (not 8.x or 9.x), and a clone of elastic/beats is 840 MB, so the module
# source is what gets built. Cold, this takes many minutes on 2 cores; a
# warm run only checks that the binary is there.
# Everything it says goes to stderr: stdout is the path alone.
set -euo pipefail

BEATS_VERSION=7.17.29
CACHE=${INTEROP_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/loglet}/filebeat-$BEATS_VERSION
BIN=$CACHE/filebeat

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi
mkdir -p "$CACHE"
log() { echo "filebeat.sh: $*" >&2; }
log "building Filebeat v$BEATS_VERSION from its Go module (once; many minutes)"
start=$(date +%s)
src=$(go mod download -json "github.com/elastic/beats/v7@v$BEATS_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
if [ -z "$src" ]; then
	log "go mod download gave no folder for github.com/elastic/beats/v7@v$BEATS_VERSION"
	exit 1
fi
# The module is its own main module here, so its replace directives (a
# fork of sarama among them) apply as they do in Elastic's own builds.
# The module cache is read-only but go build writes only to its own cache
# and to -o.
(cd "$src" && go build -trimpath -ldflags '-s -w' -o "$BIN.tmp" ./filebeat) >&2
mv "$BIN.tmp" "$BIN"
log "built $("$BIN" version) in $(($(date +%s) - start))s"
echo "$BIN"
