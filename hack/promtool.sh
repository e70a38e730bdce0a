#!/usr/bin/env bash
# Installs Debian's prometheus package, which ships /usr/bin/promtool (the
# chart's alert rules are checked and unit-tested with it: charts/
# monitoring_test.go), when it is missing, and prints promtool's path.
# --no-install-recommends: only promtool is used, not the server.
# apt-get update runs only when the package lists do not know prometheus
# yet. Everything it says goes to stderr: stdout is the path alone, for
# PROMTOOL=$(hack/promtool.sh).
set -euo pipefail

for p in "${PROMTOOL:-}" /usr/bin/promtool; do
	if [ -n "$p" ] && [ -x "$p" ]; then
		echo "$p"
		exit 0
	fi
done
if ! command -v apt-get >/dev/null; then
	echo "promtool.sh: no /usr/bin/promtool and no apt-get: install Prometheus's promtool and set PROMTOOL to its path" >&2
	exit 1
fi
SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show prometheus >/dev/null 2>&1; then
	echo "promtool.sh: apt-get update (the package lists do not know prometheus)" >&2
	$SUDO apt-get update -qq >&2
fi
echo "promtool.sh: installing Debian's prometheus (for /usr/bin/promtool)" >&2
$SUDO apt-get install -y -qq --no-install-recommends prometheus >&2
echo /usr/bin/promtool
