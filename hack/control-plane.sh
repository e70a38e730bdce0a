#!/usr/bin/env bash
# Provides a real Kubernetes control plane for the tests: kube-apiserver
# built from Go modules and etcd, once, into a cache folder outside the
# repository. Prints that folder: use it as KUBEBUILDER_ASSETS for envtest.
# With the argument "full" it also builds kube-controller-manager and
# kube-scheduler (for the end-to-end tests in e2e/).
# No Docker engine runs on the build machines and setup-envtest's download
# sites cannot be reached, so this is how the binaries get here
# (../shared/cluster.md has what was measured: a cold kube-apiserver build
# takes about 6.5 minutes on 2 cores and 2.4 GB of memory).
set -euo pipefail

K8S_VERSION=1.37.2
STAGING_VERSION=0.37.2
CACHE=${LOGLET_ASSETS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/loglet/k8s-$K8S_VERSION}

commands=(kube-apiserver)
if [ "${1:-}" = full ]; then
	commands+=(kube-controller-manager kube-scheduler)
fi
missing=()
for c in "${commands[@]}"; do
	[ -x "$CACHE/$c" ] || missing+=("$c")
done
if [ ${#missing[@]} -eq 0 ] && [ -x "$CACHE/etcd" ]; then
	echo "$CACHE"
	exit 0
fi
mkdir -p "$CACHE"
# Runs at once (several worktrees, make test beside make e2e) build once:
# the others wait here, then find the commands built.
exec 9>"$CACHE/.lock"
flock 9
missing=()
for c in "${commands[@]}"; do
	[ -x "$CACHE/$c" ] || missing+=("$c")
done
log() { echo "control-plane: $*" >&2; }

# etcd: Debian's etcd-server works with kube-apiserver 1.37 and installs in seconds.
if [ ! -x "$CACHE/etcd" ]; then
	if ! command -v etcd >/dev/null; then
		log "installing etcd-server (Debian)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >&2
		apt-get install -y -qq etcd-server >&2
	fi
	ln -sf "$(command -v etcd)" "$CACHE/etcd"
fi

if [ ${#missing[@]} -gt 0 ]; then
	log "building ${missing[*]} v$K8S_VERSION from Go modules (once; several minutes)"
	start=$(date +%s)
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	cd "$work"
	go mod init loglet.local/control-plane >/dev/null 2>&1
	# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
	# them with local folders; point each at its published version instead.
	gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	for m in $(sed -n 's/^\t\(k8s\.io\/[a-z0-9-]*\) v0\.0\.0$/\1/p' "$gomod"); do
		case "$m" in k8s.io/sample-cli-plugin|k8s.io/sample-controller) continue ;; esac
		go mod edit -replace="$m=$m@v$STAGING_VERSION"
	done
	go mod edit -require="k8s.io/kubernetes@v$K8S_VERSION"
	for c in "${missing[@]}"; do
		go mod edit -tool="k8s.io/kubernetes/cmd/$c"
	done
	go mod tidy >&2
	for c in "${missing[@]}"; do
		go build -trimpath -o "$CACHE/$c.tmp" \
			-ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
			"k8s.io/kubernetes/cmd/$c" >&2
		mv "$CACHE/$c.tmp" "$CACHE/$c"
	done
	log "${missing[*]} built in $(( $(date +%s) - start ))s"
fi
echo "$CACHE"
