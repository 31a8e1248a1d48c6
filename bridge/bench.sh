#!/usr/bin/env bash
# bridge/bench.sh - venom_bridge's benchmark, two hosts in one machine (issue 12 item 4; design
# notes, section 5), in one run so that every figure comes from the same machine state:
#   1. ddsperf ping/pong between the two namespaces (Cyclone alone: the baseline; ddsperf prints
#      half round trips, so its figures are doubled here, checked against its counts);
#   2. ddsperf pub/sub of 1 MiB samples on the shaped link (what Cyclone alone carries);
#   3. the bridge's remote request round trip, 16 B (bridge_probe rtt through the mirror), with
#      the target p50 <= 1.5 x ddsperf's round trip + 10 us;
#   4. state update latency: origin write of a 16 B stamped state -> remote wait_for_update;
#   5. whole versions per second and their bandwidth for 1, 8, 32 and 100 MB states written
#      faster than the link, which is shaped with tc tbf rate 1gbit (target >= 90 % of the link
#      as whole versions), for each bridge chunk size;
#   6. bridge CPU (utime + stime of each bridge process, /proc/PID/stat): idle and under each load.
# It reports, it does not assert: exit 0 unless the set-up failed. Prints a table at the end
# (and every measurement as a JSON line in the logs directory).
#
#   bridge/bench.sh --bridge PATH --probe PATH [--seconds S] [--sizes "1 8 32 100"]
#                   [--chunks "1048576 4194304"]
# Needs root (netns.sh), ddsperf (cyclonedds-tools), tc with the tbf qdisc. Takes about
# 40 s + 13 s per (size, chunk) pair with --seconds 10: ~2.5 minutes with the defaults.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
BRIDGE= PROBE= SECS=10 SIZES="1 8 32 100" CHUNKS="1048576 4194304"
while [ $# -gt 0 ]; do
    case $1 in
    --bridge) BRIDGE=$2; shift 2 ;;
    --probe) PROBE=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --sizes) SIZES=$2; shift 2 ;;
    --chunks) CHUNKS=$2; shift 2 ;;
    -h | --help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
abs() { [ -n "$1" ] && [ -e "$1" ] && readlink -f "$1" || echo "$1"; }
BRIDGE=$(abs "$BRIDGE") PROBE=$(abs "$PROBE")
[ -x "$BRIDGE" ] && [ -x "$PROBE" ] || { echo "bench: --bridge PATH and --probe PATH are required" >&2; exit 2; }
command -v ddsperf >/dev/null || { echo "bench: no ddsperf (apt-get install cyclonedds-tools)" >&2; exit 1; }
LEASE=${VB_LEASE_MS:-1000}
VB_SHM_SIZE=${VB_SHM_SIZE:-1g}
. "$HERE/test/netns.sh"
vb_setup
RESULTS=$VB_WORK/results.jsonl
HZ=$(getconf CLK_TCK)
LINK_MBIT=1000

note() { vb_log "$*"; }
record() { echo "$1" >>"$RESULTS"; }
# The same Cyclone settings as the bridge's own (bridge/options.hpp dds_xml), for ddsperf.
dds_uri() { # HOST
    echo "<CycloneDDS><Domain id=\"any\"><General><Interfaces><NetworkInterface name=\"$(vb_veth_of "$1")\"/></Interfaces><MaxMessageSize>65500B</MaxMessageSize><FragmentSize>64000B</FragmentSize></General><Internal><SocketReceiveBufferSize min=\"default\" max=\"4MB\"/><SocketSendBufferSize min=\"default\" max=\"2MB\"/><Watermarks><WhcHigh>4MB</WhcHigh></Watermarks></Internal></Domain></CycloneDDS>"
}
probe() { # HOST SECS ARGS...
    local host=$1 secs=$2
    shift 2
    vb_run "$host" "$secs" "$PROBE" "$@" 2>>"$VB_WORK/probe.err" | tail -1
}
cpu_ticks() { # PID -> utime + stime (clock ticks)
    [ -r "/proc/$1/stat" ] || { echo 0; return; }
    sed -E 's/^.*\) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
# CPU % of one core over an interval: TICKS0 TICKS1 NS0 NS1
cpu_pct() { awk -v a="$1" -v b="$2" -v s="$3" -v e="$4" -v hz="$HZ" 'BEGIN {d=(e-s)/1e9; printf "%.1f", (d > 0 ? (b-a)/hz/d*100 : 0)}'; }
pair_start() { # CHANNEL [BRIDGE ARGS...]: an exporter in A, an importer in B
    local ch=$1
    shift
    vb_start bA A "$BRIDGE" --json --lease "$LEASE" --interface "$VB_VETH_A" --export "$ch" "$@"
    vb_start bB B "$BRIDGE" --json --lease "$LEASE" --interface "$VB_VETH_B" --import "$ch" "$@"
}
pair_stop() { vb_stop bA; vb_stop bB; }
field() { vb_json "$1" "$2"; }
sub_field() { # OBJ FIELD LINE: a field of a nested object ("rtt_us":{...})
    printf '%s\n' "$3" | grep -oE "\"$1\":\{[^}]*\}" | head -1 | grep -oE "\"$2\":[0-9.]+" | cut -d: -f2
}

# ---- 1. ddsperf ping/pong ---------------------------------------------------------------------
note "ddsperf ping/pong 16 B, $SECS s"
vb_start pong B env CYCLONEDDS_URI="$(dds_uri B)" ddsperf -D $((SECS + 4)) pong
vb_run A $((SECS + 10)) env CYCLONEDDS_URI="$(dds_uri A)" ddsperf -D $((SECS + 1)) ping size 16 >"$VB_WORK/ping.log" 2>&1
vb_stop pong
# per-second lines: "... size 16 mean Xus min .. 50% Yus 90% Zus 99% Wus max .. cnt N"; the
# first is the warm-up. Medians of the per-second percentiles, total count.
read -r D50 D90 D99 DMEAN DCNT DLINES <<<"$(grep -E ' size 16 mean ' "$VB_WORK/ping.log" | tail -n +2 | sed -E 's/us//g' |
    awk '{for (i=1;i<=NF;i++) {if ($i=="mean") m[NR]=$(i+1); if ($i=="50%") a[NR]=$(i+1); if ($i=="90%") b[NR]=$(i+1); if ($i=="99%") c[NR]=$(i+1); if ($i=="cnt") n+=$(i+1)}}
         function med(x,  k,t,i,j,s) {k=0; for (i in x) t[++k]=x[i]; for (i=1;i<=k;i++) for (j=i+1;j<=k;j++) if (t[j]<t[i]) {s=t[i];t[i]=t[j];t[j]=s}; return k ? t[int((k+1)/2)] : 0}
         END {printf "%.2f %.2f %.2f %.2f %d %d\n", med(a), med(b), med(c), med(m), n, NR}')"
DRTT50=$(awk -v x="$D50" 'BEGIN{printf "%.1f", 2*x}')
DRTT90=$(awk -v x="$D90" 'BEGIN{printf "%.1f", 2*x}')
DRTT99=$(awk -v x="$D99" 'BEGIN{printf "%.1f", 2*x}')
# the counts: DCNT round trips in DLINES seconds, one at a time: us per cycle >= 2 x mean half
DCYCLE=$(awk -v n="$DCNT" -v s="$DLINES" 'BEGIN{printf "%.1f", (n > 0 ? s*1e6/n : 0)}')
DMEAN2=$(awk -v x="$DMEAN" 'BEGIN{printf "%.1f", 2*x}')
record "{\"measure\":\"ddsperf_rtt_us\",\"p50\":$DRTT50,\"p90\":$DRTT90,\"p99\":$DRTT99,\"mean\":$DMEAN2,\"round_trips\":$DCNT,\"seconds\":$DLINES,\"us_per_cycle_from_count\":$DCYCLE}"
TARGET=$(awk -v x="$DRTT50" 'BEGIN{printf "%.1f", 1.5*x+10}')

# ---- 2. ddsperf pub/sub 1 MiB on the shaped link ----------------------------------------------
vb_tc_add A root tbf rate 1gbit burst 256kb latency 50ms || { echo "bench: tc tbf failed" >&2; exit 1; }
note "ddsperf pub/sub 1 MiB on tbf 1gbit, 6 s"
vb_start sub B env CYCLONEDDS_URI="$(dds_uri B)" ddsperf -D 9 sub
sleep 0.5
vb_run A 12 env CYCLONEDDS_URI="$(dds_uri A)" ddsperf -D 6 pub size 1MiB >"$VB_WORK/pub.log" 2>&1
sleep 0.5
vb_stop sub
DSUB=$(grep -E 'size 1048576 total .* Mb/s' "$VB_WORK/sub.log" | tail -n +2 | head -4 |
    sed -E 's/.* kS\/s ([0-9.]+) Mb\/s .*/\1/' | sort -n | awk '{v[NR]=$1} END {print NR ? v[int((NR+1)/2)] : 0}')
record "{\"measure\":\"ddsperf_1MiB_tbf_Mbit_per_s\",\"median\":${DSUB:-0}}"
vb_tc_del A

# ---- 3. the bridge's request round trip, and idle CPU -----------------------------------------
R=r$VB_ID
vb_start origin_r A "$PROBE" echo-daemon "$R" --seconds 600
vb_wait_event "$VB_WORK/origin_r.log" ready 5000 >/dev/null
pair_start "$R"
probe B 15 wait-state "$R" 10000 --version 0 >/dev/null
sleep 1
note "bridge idle CPU, 5 s"
a0=$(cpu_ticks "$(vb_pid bA)") b0=$(cpu_ticks "$(vb_pid bB)") t0=$(vb_now_ns)
sleep 5
a1=$(cpu_ticks "$(vb_pid bA)") b1=$(cpu_ticks "$(vb_pid bB)") t1=$(vb_now_ns)
IDLE_A=$(cpu_pct "$a0" "$a1" "$t0" "$t1") IDLE_B=$(cpu_pct "$b0" "$b1" "$t0" "$t1")
record "{\"measure\":\"bridge_cpu_idle_pct\",\"exporter\":$IDLE_A,\"importer\":$IDLE_B}"
note "bridge request round trip 16 B, $SECS s"
a0=$(cpu_ticks "$(vb_pid bA)") b0=$(cpu_ticks "$(vb_pid bB)") t0=$(vb_now_ns)
RTT=$(probe B $((SECS + 20)) rtt "$R" 16 "$SECS")
a1=$(cpu_ticks "$(vb_pid bA)") b1=$(cpu_ticks "$(vb_pid bB)") t1=$(vb_now_ns)
RTT_CPU_A=$(cpu_pct "$a0" "$a1" "$t0" "$t1") RTT_CPU_B=$(cpu_pct "$b0" "$b1" "$t0" "$t1")
record "$RTT"
B50=$(sub_field rtt_us p50 "$RTT") B90=$(sub_field rtt_us p90 "$RTT") B99=$(sub_field rtt_us p99 "$RTT") BN=$(sub_field rtt_us count "$RTT")
pair_stop
vb_stop origin_r

# ---- 4. state update latency ------------------------------------------------------------------
# Isolated updates (20 Hz: the exporter is idle when each comes) give the latency of one write;
# 1 kHz updates give how many small versions per second get through (the rest are skipped,
# as they should be when the link or the bridge is slower than the writer).
SL_ROWS=()
for hz in 20 1000; do
    S=s${hz}_$VB_ID
    vb_start "origin_$S" A "$PROBE" echo-daemon "$S" --seconds 600 --stamp-hz "$hz"
    vb_wait_event "$VB_WORK/origin_$S.log" ready 5000 >/dev/null
    pair_start "$S"
    probe B 15 wait-state "$S" 10000 --version 0 >/dev/null
    note "state update latency 16 B at $hz Hz, $SECS s"
    a0=$(cpu_ticks "$(vb_pid bA)") b0=$(cpu_ticks "$(vb_pid bB)") t0=$(vb_now_ns)
    SL=$(probe B $((SECS + 20)) state-latency "$S" "$SECS")
    a1=$(cpu_ticks "$(vb_pid bA)") b1=$(cpu_ticks "$(vb_pid bB)") t1=$(vb_now_ns)
    ca=$(cpu_pct "$a0" "$a1" "$t0" "$t1") cb=$(cpu_pct "$b0" "$b1" "$t0" "$t1")
    record "{\"measure\":\"state_latency\",\"hz\":$hz,\"cpu_exporter_pct\":$ca,\"cpu_importer_pct\":$cb,\"probe\":$SL}"
    n=$(field versions "$SL")
    SL_ROWS+=("$(printf '| %5s Hz | %8.1f | %8.1f | %8.1f | %6s of %-6s | %5s/%-5s |' "$hz" "$(sub_field latency_us p50 "$SL")" "$(sub_field latency_us p90 "$SL")" "$(sub_field latency_us p99 "$SL")" "${n:-0}" "$((hz * SECS))" "$ca" "$cb")")
    [ "$(field ok "$SL")" = true ] || SL_ROWS+=("state latency at $hz Hz failed: $SL")
    pair_stop
    vb_stop "origin_$S"
done

# ---- 5. whole versions per second on the shaped link ------------------------------------------
vb_tc_add A root tbf rate 1gbit burst 256kb latency 50ms || { echo "bench: tc tbf failed" >&2; exit 1; }
TP_ROWS=()
for chunk in $CHUNKS; do
    for mb in $SIZES; do
        bytes=$((mb * 1000000))
        F=f${mb}_$VB_ID
        note "throughput: ${mb} MB states, chunk $chunk, $SECS s"
        vb_start "origin_$F" A "$PROBE" echo-daemon "$F" --seconds 600 --flood "$bytes" --flood-mbps 250
        vb_wait_event "$VB_WORK/origin_$F.log" ready 10000 >/dev/null
        pair_start "$F" --chunk "$chunk"
        probe B 25 wait-state "$F" 20000 --version 0 >/dev/null
        a0=$(cpu_ticks "$(vb_pid bA)") b0=$(cpu_ticks "$(vb_pid bB)") t0=$(vb_now_ns)
        V=$(probe B $((SECS + 30)) versions-per-second "$F" "$SECS" --bytes "$bytes")
        a1=$(cpu_ticks "$(vb_pid bA)") b1=$(cpu_ticks "$(vb_pid bB)") t1=$(vb_now_ns)
        ca=$(cpu_pct "$a0" "$a1" "$t0" "$t1") cb=$(cpu_pct "$b0" "$b1" "$t0" "$t1")
        record "{\"measure\":\"throughput\",\"MB\":$mb,\"chunk\":$chunk,\"cpu_exporter_pct\":$ca,\"cpu_importer_pct\":$cb,\"probe\":$V}"
        vps=$(field versions_per_s "$V") mbit=$(field Mbit_per_s "$V")
        pct=$(awk -v m="${mbit:-0}" -v l="$LINK_MBIT" 'BEGIN{printf "%.1f", m/l*100}')
        TP_ROWS+=("$(printf '| %6s MB | %7s | %9.2f | %8.1f | %6s %% | %4s | %4s | %5s/%-5s |' "$mb" "$chunk" "${vps:-0}" "${mbit:-0}" "$pct" "$(field whole_versions "$V")" "$(field torn "$V")" "$ca" "$cb")")
        pair_stop
        vb_stop "origin_$F"
    done
done
vb_tc_del A

# ---- the table --------------------------------------------------------------------------------
met() { awk -v a="$1" -v b="$2" 'BEGIN{ok = (a != "" && a + 0 <= b + 0); if (ok) print "met"; else print "NOT met"}'; }
echo
echo "venom_bridge benchmark: two network namespaces joined by a veth pair, one machine ($(nproc) cores,"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)), bridge --lease $LEASE, $(date -u +%Y-%m-%dT%H:%MZ); logs: $VB_WORK"
echo
echo "| round trip, 16 B                    |    p50 |    p90 |    p99 | samples |"
echo "|-------------------------------------|-------:|-------:|-------:|--------:|"
printf '| ddsperf ping/pong (2 x its halves)  | %6s | %6s | %6s | %7s |\n' "$DRTT50" "$DRTT90" "$DRTT99" "$DCNT"
if [ -n "${B50:-}" ]; then
    printf '| venom shell -> mirror -> origin     | %6.1f | %6.1f | %6.1f | %7s |\n' "$B50" "$B90" "$B99" "$BN"
else
    printf '| venom shell -> mirror -> origin     |    n/a |    n/a |    n/a |       0 |\n'
fi
echo
echo "ddsperf count check: $DCNT round trips in $DLINES s = $DCYCLE us per cycle; 2 x its mean (half) = $DMEAN2 us, ratio $(awk -v c="$DCYCLE" -v m="$DMEAN2" 'BEGIN{printf "%.2f", (m > 0 ? c/m : 0)}') (one ping at a time: near 1 means its figures are halves; were they whole round trips, it would be near 0.5)"
echo "target: bridge p50 <= 1.5 x $DRTT50 + 10 = $TARGET us: $(met "${B50:-}" "$TARGET") (p50 ${B50:-n/a} us)"
[ "$(field ok "$RTT")" = true ] || echo "bridge rtt failed: $RTT"
echo
echo "state update latency, origin write of a 16 B stamped state -> remote wait_for_update (us):"
echo "| writes   |   p50    |   p90    |   p99    | versions seen   | CPU % A/B   |"
echo "|----------|---------:|---------:|---------:|-----------------|-------------|"
for row in "${SL_ROWS[@]}"; do echo "$row"; done
echo
echo "whole versions on tc tbf rate 1gbit (Cyclone alone, ddsperf pub/sub 1 MiB: ${DSUB:-?} Mbit/s; target >= 90 % of 1000):"
echo "|   state   |  chunk  | versions/s |  Mbit/s  | of link | whole | torn | CPU % A/B   |"
echo "|-----------|---------|-----------:|---------:|--------:|------:|-----:|-------------|"
for row in "${TP_ROWS[@]}"; do echo "$row"; done
echo
echo "bridge CPU (% of one core, exporter A / importer B): idle $IDLE_A / $IDLE_B; request round trips $RTT_CPU_A / $RTT_CPU_B; state updates: the latency table; throughput: the table's last column"
