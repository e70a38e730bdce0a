#!/usr/bin/env bash
# Installs Debian's qemu-user-static (user-mode emulation: hack/image's test
# runs the arm64 image's binary under it on an amd64 machine) when it is
# missing, and prints the path of qemu-aarch64-static. apt-get update runs
# only when the package lists do not know qemu-user-static yet. Everything it
# says goes to stderr: stdout is the path alone, for
# QEMU_AARCH64=$(hack/qemu.sh).
set -euo pipefail

find_qemu() {
	# Debian 12 ships qemu-aarch64-static; later releases build qemu-user
	# statically and may name it qemu-aarch64.
	for p in "${QEMU_AARCH64:-}" /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64; do
		if [ -n "$p" ] && [ -x "$p" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

if find_qemu; then
	exit 0
fi
if ! command -v apt-get >/dev/null; then
	echo "qemu.sh: no qemu-aarch64-static and no apt-get: install qemu-user-static and set QEMU_AARCH64 to the path of qemu-aarch64-static" >&2
	exit 1
fi
SUDO=
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show qemu-user-static >/dev/null 2>&1; then
	echo "qemu.sh: apt-get update (the package lists do not know qemu-user-static)" >&2
	$SUDO apt-get update -qq >&2
fi
echo "qemu.sh: installing Debian's qemu-user-static" >&2
$SUDO apt-get install -y -qq --no-install-recommends qemu-user-static >&2
if ! find_qemu; then
	echo "qemu.sh: qemu-user-static is installed but neither /usr/bin/qemu-aarch64-static nor /usr/bin/qemu-aarch64 exists: set QEMU_AARCH64 to its path" >&2
	exit 1
fi
