#!/usr/bin/env bash
# Processors beside Fluent Bit (issue 19, item 5): one pass over a 1 GiB nginx access log,
# tail -> (drop the health checks | add an attribute | both | nothing) -> null, in
# Fluent Bit (grep and modify filters) and in loglet (drop and set processors).
#
#   ./processors.sh                      # every variant, REPS interleaved reps, then the table
#   ./processors.sh flb-raw flb-drop     # a subset (names below)
#   REPS=1 ./processors.sh loglet-raw
#   VERIFY=1 ./processors.sh             # once each, into a file instead of null: counts what
#                                        # came out (records, health checks left, records tagged)
#   ./processors.sh report [RUN_ID]      # the table of an earlier run (default: the last one)
#
# Variants (conf/fluent-bit-X.conf, conf/loglet-X.yaml): flb-raw flb-drop flb-set flb-drop-set
# flb-drop-re loglet-raw loglet-drop loglet-set loglet-drop-set loglet-drop-re
#
# Each run: the input is read once into the page cache, then the collector runs under
# /usr/bin/time (wait4's rusage): CPU = user + sys, peak RSS = ru_maxrss,
# MB per CPU-second = input bytes / 1e6 / CPU. Fluent Bit stops by itself at the end of the
# file (tail Exit_On_Eof); loglet with --once. Records out come from the last VERIFY=1 run
# (same configs, a file output instead of null, its lines counted): neither collector can be
# asked after it exited, and both deliver their last records in the moment before they exit
# (Fluent Bit's metrics endpoint, polled, saw 0 or a fraction of them on a 20 MB input).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/loglet-peers}
BIN=${BIN:-$PEERS/bin}
DATA=${DATA:-$PEERS/data}
RUNS=${RUNS:-$PEERS/runs}
INPUT=${INPUT:-$DATA/access.log}
FLB=${FLB:-$BIN/fluent-bit}
# The slim build, as `make bench` measures (bench/agent_test.go buildAgent); `make build` makes both.
LOGLET=${LOGLET:-$REPO/bin/loglet-slim}
REPS=${REPS:-3}
VERIFY=${VERIFY:-0}
NICE=${NICE:-0}
CONF=${CONF:-$HERE/conf}
# Fluent Bit's defaults (what a user gets): Flush 1 s, 32k tail buffers. Grace 1 s: the
# engine waits at most that long at exit for the last flush (no CPU while it waits).
export FLB_FLUSH=${FLB_FLUSH:-1} FLB_CHUNK=${FLB_CHUNK:-32k} FLB_MAX=${FLB_MAX:-32k} FLB_GRACE=${FLB_GRACE:-1}
# FLB_LOG_LEVEL is Fluent Bit's own variable (the configs have no Log_Level line).
export FLB_LOG_LEVEL=${FLB_LOG_LEVEL:-warn} FLB_OUTPUT=null INPUT
ALL="flb-raw flb-drop flb-set flb-drop-set flb-drop-re loglet-raw loglet-drop loglet-set loglet-drop-set loglet-drop-re"
RESULTS=$RUNS/processors.tsv
VERIFIED=$RUNS/processors-verify.tsv
mkdir -p "$RUNS"

die() { echo "processors.sh: $*" >&2; exit 1; }

# count KEY: a field of "$INPUT.count" (written by gen: lines=N bytes=B healthz=H).
count() { tr ' ' '\n' < "$INPUT.count" | sed -n "s/^$1=//p"; }

# median_mb RUN_ID VARIANT: the median MB per CPU-second of the variant's good runs (empty: none).
median_mb() {
	awk -F'\t' -v r="$1" -v v="$2" '$1==r && $2==v && $10==0 {print $5 / 1e6 / ($7 + $8)}' "$RESULTS" | sort -g |
		awk '{a[++n] = $1} END {if (n) print (n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2)}'
}

# table RUN_ID: median [min-max] MB per CPU-second, its ratio to the same collector's raw row,
# median peak RSS, records out, per variant; then loglet / Fluent Bit per processor.
table() {
	local run=$1 bytes
	bytes=$(awk -F'\t' -v r="$run" '$1==r {print $5; exit}' "$RESULTS")
	[ -n "$bytes" ] || die "no rows for run $run in $RESULTS"
	echo "run $run: $(awk -F'\t' -v r="$run" '$1==r {print $4; exit}' "$RESULTS"), $bytes B, $(count lines) lines ($(count healthz) health checks)"
	printf '%-16s %-26s %-8s %-14s %-13s %s\n' variant "MB per CPU-s med [min-max]" "vs raw" "CPU-s median" "peak RSS MiB" "records out (last VERIFY=1 run)"
	for v in $(awk -F'\t' -v r="$run" '$1==r {print $2}' "$RESULTS" | awk '!seen[$0]++'); do
		rec=$(awk -F'\t' -v v="$v" -v inp="$INPUT" '$1==v && $7==inp {r = $3 " " $6} END {print r}' "$VERIFIED" 2>/dev/null || true)
		raw=$(median_mb "$run" "${v%%-*}-raw")
		awk -F'\t' -v r="$run" -v v="$v" '$1==r && $2==v' "$RESULTS" | awk -F'\t' -v v="$v" -v rec="${rec:--}" -v raw="$raw" '
			# columns: run variant rep date bytes wall user sys maxrss_kb exit note
			$10 != 0 { failed = $11; next }
			{ n++; cpu[n] = $7 + $8; mb[n] = $5 / 1e6 / ($7 + $8); rss[n] = $9 / 1024 }
			function sort(a, k,   i, j, t) { for (i = 2; i <= k; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t } }
			function med(a, k) { return k % 2 ? a[(k+1)/2] : (a[k/2] + a[k/2+1]) / 2 }
			END {
				if (n == 0) { printf "%-16s failed: %s\n", v, failed; exit }
				sort(mb, n); sort(cpu, n); sort(rss, n)
				printf "%-16s %4.0f [%4.0f-%4.0f] (n=%d)     %-8s %6.2f         %6.1f        %s\n", v, med(mb, n), mb[1], mb[n], n,
					(raw == "" ? "-" : sprintf("%.2f", med(mb, n) / raw)), med(cpu, n), med(rss, n), rec
			}'
	done
	local p l f
	for p in raw drop set drop-set drop-re; do
		l=$(median_mb "$run" "loglet-$p")
		f=$(median_mb "$run" "flb-$p")
		[ -n "$l" ] && [ -n "$f" ] || continue
		[ "$p" != raw ] || echo
		awk -v p="$p" -v l="$l" -v f="$f" 'BEGIN {printf "loglet / Fluent Bit, %-9s %6.1f x (MB per CPU-second, medians)\n", p ":", l / f}'
	done
}

if [ "${1:-}" = report ]; then
	[ -f "$RESULTS" ] || die "no results yet ($RESULTS)"
	table "${2:-$(tail -1 "$RESULTS" | cut -f1)}"
	exit 0
fi

[ -f "$INPUT" ] || die "no input $INPUT: go run ./bench/peers/gen -o $INPUT"
[ -f "$INPUT.count" ] || die "no $INPUT.count beside the input: write both with go run ./bench/peers/gen -o $INPUT"
BYTES=$(stat -c %s "$INPUT")
[ "$BYTES" = "$(count bytes)" ] || die "$INPUT is $BYTES B but $INPUT.count says $(count bytes): write it again with gen"
VARIANTS=${*:-$ALL}
for v in $VARIANTS; do
	case $v in
	flb-raw | flb-drop | flb-set | flb-drop-set | flb-drop-re) [ -x "$FLB" ] || die "no Fluent Bit at $FLB: ./build-fluent-bit.sh" ;;
	loglet-raw | loglet-drop | loglet-set | loglet-drop-set | loglet-drop-re) [ -x "$LOGLET" ] || die "no loglet at $LOGLET: make build" ;;
	*) die "unknown variant $v (known: $ALL)" ;;
	esac
done

# run VARIANT OUTDIR: one measured run; prints "wall user sys maxrss_kb exit note" (tabs).
# OUTDIR empty: null output; else a file output there.
run() {
	local v=$1 out=$2 tmp rc=0 ckpt=
	tmp=$(mktemp -d)
	cat "$INPUT" > /dev/null # page cache: measure the collector, not the disk
	case $v in
	flb-*)
		if [ -n "$out" ]; then export FLB_OUTPUT=file; else export FLB_OUTPUT=null; fi
		# out_file writes to the working directory, a file named after the tag (access).
		(cd "${out:-$tmp}" && exec /usr/bin/time -f 'RUSAGE %e %U %S %M %x' -o "$tmp/rusage" \
			nice -n "$NICE" "$FLB" -q -c "$CONF/fluent-bit-${v#flb-}.conf") > "$tmp/stdout" 2> "$tmp/stderr" || rc=$?
		export FLB_OUTPUT=null
		;;
	loglet-*)
		local sink=null://
		[ -z "$out" ] || sink=file://$out/out.ndjson
		mkdir -p "$tmp/state"
		/usr/bin/time -f 'RUSAGE %e %U %S %M %x' -o "$tmp/rusage" nice -n "$NICE" \
			"$LOGLET" agent --once --path "$INPUT" --sink "$sink" --state-dir "$tmp/state" \
			--config "$CONF/$v.yaml" --log-level warn > "$tmp/stdout" 2> "$tmp/stderr" || rc=$?
		# Its checkpoint's last offset: the input's size when every byte was read and
		# acknowledged (the null rows have no other count of what was done).
		ckpt=$(grep -aso '"offset":[0-9]*' "$tmp/state/checkpoints/journal" | tail -1 | cut -d: -f2)
		;;
	esac
	if ! grep -q '^RUSAGE' "$tmp/rusage" 2>/dev/null; then
		echo "$v: no rusage (exit $rc)" >&2
		cat "$tmp/stderr" >&2
		rm -rf "$tmp"
		return 1
	fi
	# The note is the first line of what a failed run said (a refused config, say).
	local note=-
	[ -z "$ckpt" ] || note="ckpt_offset=$ckpt"
	if [ "$(awk '/^RUSAGE/ {print $6}' "$tmp/rusage")" != 0 ]; then
		note=$(grep -v '^\s*$' "$tmp/stderr" | head -1 | cut -c1-160)
		echo "$v: exit $(awk '/^RUSAGE/ {print $6}' "$tmp/rusage"): $note" >&2
	fi
	printf '%s\t%s\n' "$(awk '/^RUSAGE/ {print $2 "\t" $3 "\t" $4 "\t" $5 "\t" $6}' "$tmp/rusage")" "$note"
	rm -rf "$tmp"
}

if [ "$VERIFY" = 1 ]; then
	lines=$(count lines)
	health=$(count healthz)
	printf '%-16s %-10s %-12s %-16s %-12s %s\n' variant exit "records out" "health checks" "with team" verdict
	for v in $VARIANTS; do
		out=$(mktemp -d -p "$RUNS" verify.XXXXXX)
		res=$(run "$v" "$out") || { rm -rf "$out"; continue; }
		f=$out/access
		[ "${v#loglet}" = "$v" ] || f=$out/out.ndjson
		if [ ! -f "$f" ]; then
			printf '%-16s %-10s no output: %s\n' "$v" "$(echo "$res" | cut -f5)" "$(echo "$res" | cut -f6)"
			rm -rf "$out"
			continue
		fi
		n=$(wc -l < "$f")
		h=$(grep -c 'GET /healthz' "$f" || true)
		# Fluent Bit's out_file: "team":"payments" in the record map; loglet: in attributes.
		t=$(grep -c '"team":"payments"' "$f" || true)
		want_n=$lines want_t=0
		case $v in *drop*) want_n=$((lines - health)) ;; esac
		case $v in *set*) want_t=$want_n ;; esac
		want_h=$((want_n - (lines - health)))
		verdict=OK
		[ "$n" = "$want_n" ] && [ "$h" = "$want_h" ] && [ "$t" = "$want_t" ] || verdict="FAIL (want $want_n records, $want_h health checks, $want_t tagged)"
		printf '%-16s %-10s %-12s %-16s %-12s %s\n' "$v" "$(echo "$res" | cut -f5)" "$n" "$h" "$t" "$verdict"
		# variant date records health-checks tagged verdict input
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$(date -u +%FT%TZ)" "$n" "$h" "$t" "$verdict" "$INPUT" >> "$VERIFIED"
		rm -rf "$out"
	done
	exit 0
fi

# The Fluent Bit settings are part of the run's name: they change its figures.
RUN_ID=${RUN_ID:-$(date -u +%Y%m%dT%H%M%SZ)-flush$FLB_FLUSH-chunk$FLB_CHUNK-max$FLB_MAX}
echo "run $RUN_ID: $VARIANTS; $REPS reps interleaved; input $INPUT ($BYTES B); results in $RESULTS"
for rep in $(seq 1 "$REPS"); do
	for v in $VARIANTS; do
		res=$(run "$v" "") || continue
		printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$RUN_ID" "$v" "$rep" "$(date -u +%FT%TZ)" "$BYTES" "$res" >> "$RESULTS"
		echo "$res" | awk -F'\t' -v v="$v" -v rep="$rep" -v b="$BYTES" \
			'$5 != 0 { printf "rep %d %-16s exit %s: failed, not measured: %s\n", rep, v, $5, $6; next }
			{ printf "rep %d %-16s exit %s  wall %6.2fs  CPU %6.2fs (user %.2f sys %.2f)  %5.0f MB per CPU-s  peak RSS %6.1f MiB  %s\n", rep, v, $5, $1, $2+$3, $2, $3, b/1e6/($2+$3 > 0 ? $2+$3 : 1), $4/1024, ($6 == "-" ? "" : $6) }'
	done
done
echo
table "$RUN_ID"
