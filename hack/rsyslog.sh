#!/usr/bin/env bash
# Installs Debian's rsyslog (the syslog daemon make interop forwards to
# loglet's syslog input with) when it is missing, and prints rsyslogd's
# path. The tests run their own rsyslogd, unprivileged, with their own
# configuration; this only puts the binary and its modules in place.
# apt-get update runs only when the package lists do not know rsyslog yet.
# Everything it says goes to stderr: stdout is the path alone, for
# RSYSLOGD=$(hack/rsyslog.sh).
set -euo pipefail

for p in "${RSYSLOGD:-}" /usr/sbin/rsyslogd; do
	if [ -n "$p" ] && [ -x "$p" ]; then
		echo "$p"
		exit 0
	fi
done
if ! command -v apt-get >/dev/null; then
	echo "rsyslog.sh: no /usr/sbin/rsyslogd and no apt-get: install rsyslog and set RSYSLOGD to its path" >&2
	exit 1
fi
SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show rsyslog >/dev/null 2>&1; then
	echo "rsyslog.sh: apt-get update (the package lists do not know rsyslog)" >&2
	$SUDO apt-get update -qq >&2
fi
echo "rsyslog.sh: installing Debian's rsyslog" >&2
$SUDO apt-get install -y -qq --no-install-recommends rsyslog >&2
echo /usr/sbin/rsyslogd
