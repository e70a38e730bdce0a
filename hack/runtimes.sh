#!/usr/bin/env bash
# Installs, from Debian's packages, the language runtimes whose real stack
# traces the multiline presets are tested on (sidecar/parse/presets_test.go):
# a JDK (java runs Traces.java from source, which needs the compiler),
# Python 3, Ruby and Node.js. Go is the one the build uses. Each is
# installed only when its command is missing. .NET is not packaged by
# Debian, so its trace is a fixture.
set -euo pipefail

missing=()
command -v javac >/dev/null || missing+=(default-jdk-headless)
command -v python3 >/dev/null || missing+=(python3)
command -v ruby >/dev/null || missing+=(ruby)
command -v node >/dev/null || missing+=(nodejs)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
echo "runtimes: installing ${missing[*]} from Debian's packages" >&2
export DEBIAN_FRONTEND=noninteractive
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
	$SUDO apt-get update -q >&2
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
