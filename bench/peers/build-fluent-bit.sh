#!/usr/bin/env bash
# Builds Fluent Bit from its source for the processors benchmark (issue 19, item 5):
# the minimal plugin set of shared/peers/build-fluent-bit.sh (tail, http in, dummy, null, file,
# stdout, http out) plus the two filters the benchmark compares with loglet's processors:
# grep (drop/keep by regex) and modify (add a field). Option names are the ones that
# cmake/plugins_options.cmake of v5.1.1 defines (FLB_FILTER_GREP, FLB_FILTER_MODIFY); both
# need FLB_REGEX, which is on by default and is not switched off by FLB_MINIMAL.
#
# Source tree (from a bare mirror of github.com/fluent/fluent-bit; the bundled sqlite3.c blob
# is absent from such a mirror, hence the exclude and the system sqlite):
#   mkdir -p $PEERS/src/fluent-bit
#   git --git-dir=$MIRROR archive v5.1.1 -- . ':(exclude)lib/sqlite-amalgamation-3510100/sqlite3.c' | tar x -C $PEERS/src/fluent-bit
# Needs: apt-get install -y cmake flex bison libsqlite3-dev libyaml-dev libssl-dev pkg-config
# Run:   ./build-fluent-bit.sh          (nice -n 19, make -j2: about 25-40 min on 2 shared cores)
set -eu
PEERS=${PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/loglet-peers}
FLB_SRC=${FLB_SRC:-$PEERS/src/fluent-bit}
JOBS=${JOBS:-2}
mkdir -p "$FLB_SRC/build" "$PEERS/bin"
cd "$FLB_SRC/build"
# simdutf 5.5.0 fails with gcc 12 (always_inline target mismatch), hence FLB_USE_SIMDUTF=Off.
nice -n 19 cmake .. -DCMAKE_BUILD_TYPE=Release -DFLB_MINIMAL=On \
  -DFLB_IN_TAIL=On -DFLB_IN_HTTP=On -DFLB_IN_DUMMY=On \
  -DFLB_OUT_NULL=On -DFLB_OUT_FILE=On -DFLB_OUT_STDOUT=On -DFLB_OUT_HTTP=On \
  -DFLB_FILTER_GREP=On -DFLB_FILTER_MODIFY=On -DFLB_REGEX=On \
  -DFLB_JEMALLOC=Off -DFLB_LUAJIT=Off -DFLB_WASM=Off -DFLB_EXAMPLES=Off -DFLB_SHARED_LIB=Off -DFLB_KAFKA=Off \
  -DFLB_PREFER_SYSTEM_LIB_SQLITE=On -DFLB_HTTP_SERVER=On \
  -DFLB_USE_SIMDUTF=Off -DFLB_UNICODE_ENCODER=Off
nice -n 19 make -j"$JOBS" fluent-bit-bin
cp bin/fluent-bit "$PEERS/bin/fluent-bit"
"$PEERS/bin/fluent-bit" --version | head -1
# The filters must be compiled in, else the configs fail with "unknown filter".
"$PEERS/bin/fluent-bit" -h 2>&1 | grep -E '^\s+(grep|modify)\s' || { echo "grep/modify filters missing from the build" >&2; exit 1; }
