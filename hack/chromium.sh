#!/usr/bin/env bash
# Installs Debian's chromium (the headless browser the console's browser
# tests drive) when it is missing, and prints its path. apt-get update runs
# only when the package lists do not know chromium yet. Everything it says
# goes to stderr: stdout is the path alone, for CHROMIUM=$(hack/chromium.sh).
set -euo pipefail

for p in "${CHROMIUM:-}" /usr/bin/chromium; do
	if [ -n "$p" ] && [ -x "$p" ]; then
		echo "$p"
		exit 0
	fi
done
if ! command -v apt-get >/dev/null; then
	echo "chromium.sh: no /usr/bin/chromium and no apt-get: install chromium and set CHROMIUM to its path" >&2
	exit 1
fi
SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
	echo "chromium.sh: apt-get update (the package lists do not know chromium)" >&2
	$SUDO apt-get update -qq >&2
fi
echo "chromium.sh: installing Debian's chromium" >&2
$SUDO apt-get install -y -qq --no-install-recommends chromium >&2
echo /usr/bin/chromium
