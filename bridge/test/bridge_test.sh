#!/usr/bin/env bash
# bridge/test/bridge_test.sh - venom_bridge between two hosts in one machine (issue 12 item 3;
# design notes, section 4). Host A runs the origin daemon and the exporting bridge, host B the
# importing bridge and the remote shells; each host is a network namespace with its own
# /dev/shm (netns.sh). Every scenario asserts with bounded waits and prints one PASS/FAIL line
# with what it measured; the run ends with a summary and exits 1 if anything failed.
#
#   bridge_test.sh --bridge PATH --probe PATH [--forge PATH] [--venom PATH] [--only "0 8 1 ..."]
#
# Needs root (network namespaces, a veth pair, tmpfs mounts). If namespaces cannot be made it
# says why and exits 1: it never skips. Environment: VB_LEASE_MS (bridge --lease, default 500),
# VB_SLACK_MS (added to every time bound, default 0; for a slow machine), VB_KEEP=1 (keep the
# logs directory), VB_PEER=1 (unicast --peer discovery instead of multicast).
# Scenarios: 0 isolation of the two hosts' /dev/shm; P the probe's own checks on a local channel; 8 importer started before the exporter
# (brings the pair up); 1 ping/pong and 8 verified remote shells; 2 set + read back; 3 a 32 MiB
# state; 10 expired requests; 9 malformed samples; 11 hostile announcements at an importer; 12 --request-timeout of a request without a
# time limit; 13 a mirror that cannot be created, then its exporter goes; 4 kill -9 of the exporting bridge; 5 kill -9
# of the importing bridge; 6 link down/up; 7 origin daemon restart (kill -9, then SIGTERM).
set -u
T_START=$(date +%s%N)
HERE=$(cd "$(dirname "$0")" && pwd)
BRIDGE= PROBE= FORGE= VENOM= ONLY=
while [ $# -gt 0 ]; do
    case $1 in
    --bridge) BRIDGE=$2; shift 2 ;;
    --probe) PROBE=$2; shift 2 ;;
    --forge) FORGE=$2; shift 2 ;;
    --venom) VENOM=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h | --help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bridge_test: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -n "$PROBE" ] && [ -x "$PROBE" ] || { echo "bridge_test: --probe PATH (bridge_probe) is required" >&2; exit 2; }
# nsenter into a mount namespace starts at its root directory: every path absolute
abs() { [ -n "$1" ] && [ -e "$1" ] && readlink -f "$1" || echo "$1"; }
PROBE=$(abs "$PROBE") BRIDGE=$(abs "$BRIDGE") FORGE=$(abs "$FORGE") VENOM=$(abs "$VENOM")
LEASE=${VB_LEASE_MS:-500}
SLACK=${VB_SLACK_MS:-0}
GONE_BOUND=$((LEASE + 150 + SLACK)) # design 3: daemon_gone within lease + 150 ms
. "$HERE/netns.sh"

PASSED=() FAILED=()
pass() { PASSED+=("$1"); printf 'PASS %s %s\n' "$1" "$2"; }
fail() { FAILED+=("$1"); printf 'FAIL %s %s\n' "$1" "$2"; }
want() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
ms_between() { echo $((($2 - $1) / 1000000)); } # two unix-ns stamps -> ms

vb_setup
E=e$VB_ID # the exported channel
ORIGIN_ARGS=(--data-size 34000000 --clients 32 --seconds 900)

probe() { # HOST SECS ARGS...: bridge_probe in HOST, its JSON line on stdout
    local host=$1 secs=$2
    shift 2
    vb_run "$host" "$secs" "$PROBE" "$@" 2>>"$VB_WORK/probe.err" | tail -1
}
bridge_start() { # TAG HOST ARGS...
    local tag=$1 host=$2 peer=()
    shift 2
    if [ "${VB_PEER:-0}" = 1 ]; then
        [ "$host" = A ] && peer=(--peer "$VB_ADDR_B") || peer=(--peer "$VB_ADDR_A")
    fi
    echo "=== start $(date +%H:%M:%S.%3N): $*" >>"$VB_WORK/$tag.log"
    vb_start "$tag" "$host" "$BRIDGE" --json --lease "$LEASE" --interface "$(vb_veth_of "$host")" "${peer[@]}" "$@"
}
origin_start() { # INITIAL-STATE
    echo "=== start $(date +%H:%M:%S.%3N)" >>"$VB_WORK/origin.log"
    local skip
    skip=$(vb_lines "$VB_WORK/origin.log")
    vb_start origin A "$PROBE" echo-daemon "$E" "${ORIGIN_ARGS[@]}" --initial "$1"
    vb_wait_event "$VB_WORK/origin.log" ready 5000 "$skip" >/dev/null
}
wait_file() { # FILE MS
    local i
    for i in $(seq $(($2 / 20 + 1))); do [ -e "$1" ] && return 0; sleep 0.02; done
    return 1
}
wait_exit() { # TAG MS: waits for a background process to end
    local p i
    p=$(vb_pid "$1")
    for i in $(seq $(($2 / 20 + 1))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.02; done
    return 1
}
# The origin's current state as its own host sees it: "VERSION CHECKSUM".
origin_now() {
    local r
    r=$(probe A 10 wait-state "$E" 3000 --version 0)
    echo "$(vb_json version "$r") $(vb_json checksum "$r")"
}
last_json() { grep '^{' "$VB_WORK/$1.log" | tail -1; }
# Sum over channels of the newest "total" of "dropped" events of kind WHAT in a bridge's log.
dropped_total() { # TAG WHAT
    grep -E '"event" *: *"dropped"' "$VB_WORK/$1.log" 2>/dev/null | grep -E "\"what\" *: *\"$2\"" |
        sed -E 's/.*"channel" *: *"([^"]*)".*"total" *: *([0-9]+).*/\1 \2/' |
        awk '{t[$1]=$2} END {s=0; for (c in t) s+=t[c]; print s+0}'
}
# Starts what is missing of origin + both bridges and waits (bounded) until the mirror serves.
ensure_pair() {
    vb_alive origin || origin_start "state-0"
    vb_alive bA || bridge_start bA A --export "$E"
    vb_alive bB || bridge_start bB B --import "$E"
    local r
    r=$(probe B 10 wait-state "$E" 6000)
    [ "$(vb_json ok "$r")" = true ]
}

if [ -z "$BRIDGE" ] || [ ! -x "$BRIDGE" ]; then
    BRIDGE_MISSING="no venom_bridge binary (--bridge '${BRIDGE}')"
else
    BRIDGE_MISSING=
fi

# ---- 0: each host has its own /dev/shm --------------------------------------------------------
if want 0; then
    ISO=iso$VB_ID
    vb_start iso A "$PROBE" echo-daemon "$ISO" --seconds 60 --initial iso
    vb_wait_event "$VB_WORK/iso.log" ready 5000 >/dev/null
    ra=$(probe A 10 local-ok "$ISO")
    rb=$(probe B 10 local-ok "$ISO")
    fb=$(vb_run B 5 ls /dev/shm | grep -c "venom.$ISO" || true)
    fa=$(vb_run A 5 ls /dev/shm | grep -c "venom.$ISO" || true)
    fh=$(ls /dev/shm | grep -c "venom.$ISO" || true)
    la=- lb=-
    if [ -n "$VENOM" ]; then
        la=$(vb_run A 10 "$VENOM" list --names 2>/dev/null | grep -cx "$ISO" || true)
        lb=$(vb_run B 10 "$VENOM" list --names 2>/dev/null | grep -cx "$ISO" || true)
    fi
    # a daemon of the same name in B must be able to start: no collision
    vb_start iso_b B "$PROBE" echo-daemon "$ISO" --seconds 60 --initial iso-b
    if vb_wait_event "$VB_WORK/iso_b.log" ready 5000 >/dev/null; then both=yes; else both=no; fi
    vb_stop iso
    vb_stop iso_b
    if [ "$(vb_json alive "$ra")" = true ] && [ "$(vb_json alive "$rb")" = false ] &&
        [ "$fa" -ge 1 ] && [ "$fb" = 0 ] && [ "$fh" = 0 ] && [ "$both" = yes ] &&
        { [ "$la" = - ] || { [ "$la" = 1 ] && [ "$lb" = 0 ]; }; }; then
        pass 0 "isolation: daemon $ISO in A seen by A (files $fa, venom list $la), not by B (files $fb, venom list $lb, inspect alive=false) nor the machine's /dev/shm ($fh); a second daemon of the same name started in B"
    else
        fail 0 "isolation: A alive=$(vb_json alive "$ra") files=$fa list=$la; B alive=$(vb_json alive "$rb") files=$fb list=$lb; machine files=$fh; same name in B started=$both"
    fi
fi

# ---- P: the probe itself, against a local channel in A (no bridge): its checks are sound -------
if want P; then
    L=local$VB_ID
    vb_start loc A "$PROBE" echo-daemon "$L" --seconds 60 --data-size 34000000 --initial local-0
    vb_wait_event "$VB_WORK/loc.log" ready 5000 >/dev/null
    p1=$(probe A 30 shells "$L" 8 200 --verify)
    p2=$(probe A 30 set-read "$L" 50)
    p3=$(probe A 30 big "$L" 33554432 --request)
    rm -f "$VB_WORK/gl.ready"
    vb_start gl A "$PROBE" wait-gone "$L" 5000 --ready-file "$VB_WORK/gl.ready"
    wait_file "$VB_WORK/gl.ready" 5000
    kill -9 "$(vb_pid loc)"
    wait_exit gl 8000
    p4=$(last_json gl)
    if [ "$(vb_json ok "$p1")" = true ] && [ "$(vb_json ok "$p2")" = true ] &&
        [ "$(vb_json ok "$p3")" = true ] && [ "$(vb_json ok "$p4")" = true ]; then
        pass P "probe self-check on a local channel: 8x200 verified echoes (p50 $(printf '%s' "$p1" | grep -oE '"p50":[0-9.]+' | cut -d: -f2) us), 50/50 read-your-writes, 32 MiB written/read whole, daemon_gone seen after kill -9 with the state kept"
    else
        fail P "probe self-check: shells $p1 ; set-read $p2 ; big $p3 ; wait-gone $p4"
    fi
fi

if [ -n "$BRIDGE_MISSING" ]; then
    for s in 8 1 2 3 10 9 11 12 13 4 5 6 7; do want $s && fail $s "$BRIDGE_MISSING"; done
else

# ---- 8: importer started before the exporter (brings the pair up) -----------------------------
if want 8 || true; then
    origin_start "state-0"
    ro=$(probe A 10 wait-state "$E" 3000 --text state-0)
    bridge_start bB B --import "$E"
    sleep 2
    early=$(probe B 5 local-ok "$E")
    t0=$(vb_now_ns)
    bridge_start bA A --export "$E"
    r=$(probe B 12 wait-state "$E" 8000 --text state-0)
    dt=$(ms_between "$t0" "$(vb_json t_unix_ns "$r")")
    cfg_a=$(printf '%s' "$ro" | grep -oE '"config":\{[^}]*\}')
    cfg_b=$(printf '%s' "$r" | grep -oE '"config":\{[^}]*\}')
    imp=$(vb_wait_event "$VB_WORK/bB.log" imported 1000 || true)
    bound=$((3000 + SLACK))
    if want 8; then
        if [ "$(vb_json ok "$r")" = true ] && [ "$dt" -le "$bound" ] && [ -n "$cfg_a" ] &&
            [ "$cfg_a" = "$cfg_b" ] && [ "$(vb_json alive "$early")" = false ] &&
            [ "$(vb_json version "$r")" = "$(vb_json version "$ro")" ]; then
            pass 8 "importer first: no mirror while the exporter was away; mirror with the origin's state 'state-0' (version $(vb_json version "$r")) and config $cfg_b ${dt} ms after the exporter started (bound $bound)"
        else
            fail 8 "importer first: mirror ok=$(vb_json ok "$r") after ${dt} ms (bound $bound), state '$(vb_json state "$r")' version $(vb_json version "$r") (origin's $(vb_json version "$ro")), config origin $cfg_a mirror $cfg_b, mirror before the exporter: alive=$(vb_json alive "$early"); imported event: ${imp:-none}; error: $(vb_json error "$r")"
        fi
    fi
fi

# ---- 1: ping/pong, 8 remote shells verified ---------------------------------------------------
if want 1; then
    o0=$(vb_json order_violations "$(probe A 15 ask "$E" stats)")
    r1=$(probe B 60 shells "$E" 1 1000 --verify --deadline-ms 40000)
    r8=$(probe B 60 shells "$E" 8 500 --verify --deadline-ms 40000)
    st=$(probe A 15 ask "$E" stats)
    o1=$(vb_json order_violations "$st")
    p1=$(printf '%s' "$r1" | grep -oE '"p50":[0-9.]+' | head -1 | cut -d: -f2)
    p8=$(printf '%s' "$r8" | grep -oE '"p50":[0-9.]+' | head -1 | cut -d: -f2)
    if [ "$(vb_json ok "$r1")" = true ] && [ "$(vb_json ok "$r8")" = true ] && [ -n "$o1" ] && [ "$o1" = "$o0" ]; then
        pass 1 "ping/pong: 1000 round trips verified (p50 ${p1} us, $(vb_json elapsed_ms "$r1") ms); 8 shells x 500 concurrent verified echoes (p50 ${p8} us, $(vb_json elapsed_ms "$r8") ms); the origin saw each shell's commands in order (order violations $o1)"
    else
        fail 1 "ping/pong: 1 shell: $r1 ; 8 shells: $r8 ; origin order violations $o0 -> $o1"
    fi
fi

# ---- 2: set + read back (read-your-writes) ----------------------------------------------------
if want 2; then
    r=$(probe B 40 set-read "$E" 100 --deadline-ms 30000)
    if [ "$(vb_json ok "$r")" = true ]; then
        pass 2 "set + read back: $(vb_json read_your_writes "$r")/100 read_data right after the answer gave X with version >= the answer's"
    else
        fail 2 "set + read back: $r"
    fi
fi

# ---- 3: a 32 MiB state ------------------------------------------------------------------------
if want 3; then
    seed=$((7700000 + VB_ID))
    rm -f "$VB_WORK/big.ready"
    vb_start bigb B "$PROBE" big "$E" 33554432 --seed "$seed" --deadline-ms 12000 --ready-file "$VB_WORK/big.ready"
    wait_file "$VB_WORK/big.ready" 6000
    ra=$(probe A 20 big "$E" 33554432 --request --seed "$seed")
    wait_exit bigb 15000
    rb=$(last_json bigb)
    dt=$(ms_between "$(vb_json t_unix_ns "$ra")" "$(vb_json t_unix_ns "$rb")")
    bound=$((5000 + SLACK))
    if [ "$(vb_json ok "$ra")" = true ] && [ "$(vb_json ok "$rb")" = true ] &&
        [ "$(vb_json version "$rb")" = "$(vb_json version "$ra")" ] &&
        [ "$(vb_json checksum "$rb")" = "$(vb_json checksum "$ra")" ] && [ "$dt" -le "$bound" ]; then
        pass 3 "32 MiB state: origin version $(vb_json version "$ra") checksum $(vb_json checksum "$ra"); B read the same version whole, same checksum, ${dt} ms after the origin wrote it (bound $bound)"
    else
        fail 3 "32 MiB state: origin $ra ; B $rb ; ${dt} ms (bound $bound)"
    fi
fi

# ---- 10: expired requests ---------------------------------------------------------------------
if want 10; then
    ca=$(probe A 10 counters "$E")
    exp0=$(vb_json commands_expired "$ca")
    dr0=$(dropped_total bA expired)
    r=$(probe B 40 expire "$E" --sleep-ms 50 --timeout-ms 1)
    counted=no
    for i in $(seq 25); do # dropped events come at most once a second: 2.5 s
        ca=$(probe A 10 counters "$E")
        exp1=$(vb_json commands_expired "$ca")
        dr1=$(dropped_total bA expired)
        if { [ "${exp0:--1}" -ge 0 ] && [ "${exp1:--1}" -gt "$exp0" ]; } || [ "$dr1" -gt "$dr0" ]; then counted=yes; break; fi
        sleep 0.1
    done
    if [ "$(vb_json ok "$r")" = true ] && [ $counted = yes ]; then
        pass 10 "expired: a 1 ms request behind a 50 ms command timed out at B after $(vb_json late_ms "$r") ms, the handler never saw it; counted (origin commands_expired $exp0 -> $exp1, bridge A dropped expired $dr0 -> $dr1)"
    else
        fail 10 "expired: probe $r ; counted=$counted (origin commands_expired ${exp0} -> ${exp1} [-1: the core has no such counter: layout < 8], bridge A dropped expired $dr0 -> $dr1)"
    fi
fi

# ---- 9: malformed samples ---------------------------------------------------------------------
if want 9; then
    if [ -z "$FORGE" ] || [ ! -x "$FORGE" ]; then
        fail 9 "malformed samples: no bridge_forge (--forge)"
    else
        ma0=$(dropped_total bA malformed)
        # B: forged chunks come from another participant than the exporter's: foreign_writer
        mb0=$(($(dropped_total bB malformed) + $(dropped_total bB foreign_writer)))
        sb0=$(dropped_total bB stale_answer)
        uri="<CycloneDDS><Domain id=\"any\"><General><Interfaces><NetworkInterface name=\"$VB_VETH_B\"/></Interfaces></General></Domain></CycloneDDS>"
        vb_start forge B env CYCLONEDDS_URI="$uri" "$FORGE" "$E" --lease "$LEASE" --wait-ms 8000
        # requests from a remote shell meanwhile: the forge learns the importer's mirror tag
        for i in $(seq 8); do
            sleep 0.5
            vb_alive forge || break
            probe B 10 shells "$E" 1 20 >/dev/null
        done
        wait_exit forge 10000
        rf=$(last_json forge)
        ok=no
        for i in $(seq 40); do # at most 4 s for the counts (events at most once a second)
            ma=$(dropped_total bA malformed)
            mb=$(($(dropped_total bB malformed) + $(dropped_total bB foreign_writer)))
            sb=$(dropped_total bB stale_answer)
            if [ $((ma - ma0)) -ge 5 ] && [ $((mb - mb0)) -ge 5 ] && [ $((sb - sb0)) -ge 5 ]; then ok=yes; break; fi
            sleep 0.1
        done
        sleep 0.5 # anything the forged requests would have made the origin do
        read -r vA cA <<<"$(origin_now)"
        s1=$(probe B 10 wait-state "$E" 3000 --version 0)
        forged=$(probe A 15 ask "$E" stats | grep -c 'forged' || true)
        same=no # the forged chunks' versions are above the origin's: the mirror must not show one
        [ "$(vb_json version "$s1")" = "$vA" ] && [ "$(vb_json checksum "$s1")" = "$cA" ] && same=yes
        if [ "$(vb_json ok "$rf")" = true ] && [ $ok = yes ] && [ $same = yes ] && [ "$forged" = 0 ]; then
            pass 9 "malformed: forged 5 chunks, 5 requests, 5 answers of a dead incarnation: counted by B malformed/foreign_writer +$((mb - mb0)), stale_answer +$((sb - sb0)), by A malformed +$((ma - ma0)); the mirror still shows the origin's version $vA; the origin ran none of the forged requests"
        else
            fail 9 "malformed: forge $rf ; B malformed +$((mb - mb0)) stale_answer +$((sb - sb0)), A malformed +$((ma - ma0)) (want >= 5 each); mirror version $(vb_json version "$s1") vs origin's $vA (same state: $same); forged requests the origin ran: $forged"
        fi
    fi
fi

# ---- 11: hostile announcements at an importer ------------------------------------------------
# A bridge C in B imports two names no real exporter serves; forged announcements from A ask for
# a 2 GiB data_size (over --max-mirror's default 1 GiB: refused, counted too_large, no segment)
# and for access everyone (the mirror must stay owner-only, 0600); a second writer of the second
# name with another origin must be dropped (foreign_writer), the mirror not recreated.
if want 11; then
    if [ -z "$FORGE" ] || [ ! -x "$FORGE" ]; then
        fail 11 "hostile announcements: no bridge_forge (--forge)"
    else
        H=h$VB_ID G=g$VB_ID
        uri="<CycloneDDS><Domain id=\"any\"><General><Interfaces><NetworkInterface name=\"$VB_VETH_A\"/></Interfaces></General></Domain></CycloneDDS>"
        skip=0 # a new log
        bridge_start bC B --import "$H" --import "$G"
        vb_wait_event "$VB_WORK/bC.log" started 5000 "$skip" >/dev/null
        fa=(env CYCLONEDDS_URI="$uri" "$FORGE" --announce)
        vb_start fh A "${fa[@]}" "$H" --origin 7 --data-size 2147483648 --access 2 --hold-ms 4000 --lease "$LEASE" --wait-ms 8000
        vb_start fg1 A "${fa[@]}" "$G" --origin 11 --data-size 4096 --access 2 --hold-ms 7000 --lease "$LEASE" --wait-ms 8000
        imp=$(vb_wait_event "$VB_WORK/bC.log" imported 8000 "$skip" "\"$G\"")
        vb_start fg2 A "${fa[@]}" "$G" --origin 22 --data-size 8192 --access 2 --hold-ms 3000 --lease "$LEASE" --wait-ms 8000
        ok=no
        for i in $(seq 60); do # at most 6 s for the counts (events at most once a second)
            tl=$(dropped_total bC too_large)
            fw=$(dropped_total bC foreign_writer)
            if [ "$tl" -ge 1 ] && [ "$fw" -ge 1 ]; then ok=yes; break; fi
            sleep 0.1
        done
        mode=$(vb_run B 5 stat -c %a "/dev/shm/venom.$G.shm" 2>/dev/null)
        hfile=$(vb_run B 5 sh -c "ls /dev/shm | grep -c '^venom\.$H\.' || true")
        nimp=$(tail -n +$((skip + 1)) "$VB_WORK/bC.log" | grep -E '"event" *: *"imported"' | grep -c "\"$G\"" || true)
        ngone=$(tail -n +$((skip + 1)) "$VB_WORK/bC.log" | grep -E '"event" *: *"daemon_gone"' | grep -c "\"$G\"" || true)
        wait_exit fg2 10000
        rfg=$(last_json fg2)
        wait_exit fh 10000
        rfh=$(last_json fh)
        vb_stop bC
        wait_exit fg1 10000
        if [ $ok = yes ] && [ -n "$imp" ] && [ "$mode" = 600 ] && [ "$hfile" = 0 ] && [ "$nimp" = 1 ] &&
            [ "$ngone" = 0 ] && [ "$(vb_json ok "$rfh")" = true ] && [ "$(vb_json ok "$rfg")" = true ]; then
            pass 11 "hostile announcements: 2 GiB data_size refused (too_large $tl, no segment), access everyone ignored (mirror mode $mode), a second writer dropped (foreign_writer $fw; imported $nimp time, daemon_gone $ngone)"
        else
            fail 11 "hostile announcements: counts ok=$ok (too_large ${tl:-?} foreign_writer ${fw:-?}); imported event '${imp}'; mirror mode '${mode}' (want 600); segments of $H: '${hfile}' (want 0); imported $nimp daemon_gone $ngone (want 1 0); forges $rfh ; $rfg"
        fi
    fi
fi

# ---- 12: a request without a time limit, a hung origin: --request-timeout ---------------------
if want 12; then
    vb_stop bB
    bridge_start bB B --import "$E" --request-timeout 1000
    r0=$(probe B 10 wait-state "$E" 6000 --version 0)
    r=$(probe B 35 ask "$E" "sleep 4000" --no-limit) # the origin takes 4 s; the shell sets no limit
    ms=$(vb_json ms "$r")
    ms=${ms%.*}
    bound=$((1000 + 700 + SLACK))
    vb_stop bB # back to the defaults for the next scenarios
    if [ "$(vb_json ok "$r0")" = true ] && [ "$(vb_json errc_timeout "$r")" = true ] &&
        [ "${ms:-0}" -ge 1000 ] && [ "${ms:-0}" -le "$bound" ]; then
        pass 12 "request timeout: a request without a time limit to an origin busy for 4 s failed timeout after $ms ms at the mirror (--request-timeout 1000, bound $bound)"
    else
        fail 12 "request timeout: mirror $r0 ; ask $r (want timeout within 1000..$bound ms)"
    fi
    ensure_pair || true
fi

# ---- 13: a mirror that cannot be created, then its exporter goes ------------------------------
# A directory in the mirror's place in B's /dev/shm makes creation fail (retried every second,
# the error logged once); after the forged exporter is gone and the obstacle removed, no mirror
# may appear (there is no origin to mirror).
if want 13; then
    if [ -z "$FORGE" ] || [ ! -x "$FORGE" ]; then
        fail 13 "failed mirror creation: no bridge_forge (--forge)"
    else
        X=x$VB_ID
        uri="<CycloneDDS><Domain id=\"any\"><General><Interfaces><NetworkInterface name=\"$VB_VETH_A\"/></Interfaces></General></Domain></CycloneDDS>"
        vb_run B 5 mkdir -p "/dev/shm/venom.$X.shm" "/dev/shm/venom.$X.lock"
        bridge_start bD B --import "$X"
        vb_wait_event "$VB_WORK/bD.log" started 5000 0 >/dev/null
        vb_start fx A env CYCLONEDDS_URI="$uri" "$FORGE" --announce "$X" --origin 33 --data-size 4096 --hold-ms 3500 --lease "$LEASE" --wait-ms 8000
        wait_exit fx 12000
        rfx=$(last_json fx)
        sleep $(((LEASE + 300) / 1000)).$(((LEASE + 300) % 1000 / 100)) # the forge's liveliness lost
        vb_run B 5 rmdir "/dev/shm/venom.$X.shm" "/dev/shm/venom.$X.lock"
        sleep 2.5 # more than two retry periods
        nerr=$(grep -E '"event" *: *"error"' "$VB_WORK/bD.log" | grep -c "import $X" || true)
        nimp=$(grep -E '"event" *: *"imported"' "$VB_WORK/bD.log" | grep -c "\"$X\"" || true)
        hfile=$(vb_run B 5 sh -c "ls /dev/shm | grep -c '^venom\.$X\.' || true")
        vb_stop bD
        if [ "$(vb_json ok "$rfx")" = true ] && [ "$nerr" = 1 ] && [ "$nimp" = 0 ] && [ "$hfile" = 0 ]; then
            pass 13 "failed mirror creation: the error logged once over ~4 s of retries; after the exporter went, no mirror was made (imported $nimp, segments $hfile)"
        else
            fail 13 "failed mirror creation: forge $rfx ; error lines $nerr (want 1), imported $nimp (want 0), segments of $X: $hfile (want 0)"
        fi
    fi
fi

# ---- 4: kill -9 of the exporting bridge -------------------------------------------------------
if want 4; then
    if ! ensure_pair; then
        fail 4 "kill -9 exporter bridge: the pair did not come up first"
    else
        rm -f "$VB_WORK/g4.ready"
        vb_start g4 B "$PROBE" wait-gone "$E" 8000 --pending-ms 1500 --ready-file "$VB_WORK/g4.ready"
        wait_file "$VB_WORK/g4.ready" 6000
        tk=$(vb_now_ns)
        kill -9 "$(vb_pid bA)"
        wait_exit g4 12000
        g=$(last_json g4)
        dt=$(ms_between "$tk" "$(vb_json gone_unix_ns "$g")")
        [ "$(vb_json gone_unix_ns "$g")" = 0 ] && dt=never
        vb_stop bA KILL
        read -r vA cA <<<"$(origin_now)"
        skip=$(vb_lines "$VB_WORK/bA.log")
        tr=$(vb_now_ns)
        bridge_start bA A --export "$E"
        r=$(probe B 10 wait-state "$E" 6000 --version 0 --checksum "$cA")
        ev=$(vb_wait_event "$VB_WORK/bA.log" exported 100 "$skip" || true)
        drs=$(ms_between "$tr" "$(vb_json t_unix_ns "$r")")
        tev=$(vb_json t "$ev")
        dev=$([ -n "$tev" ] && echo $(($(vb_json t_unix_ns "$r") / 1000000 - tev)) || echo "?")
        rbound=$((1000 + SLACK))
        # the request was in flight at the kill: it must end with daemon_gone (or timeout), after it
        pend=no
        case "$(vb_json pending_error "$g")" in daemon_gone | timeout)
            [ "$(vb_json pending_unix_ns "$g")" -ge "$tk" ] && pend=yes ;;
        esac
        vm=$(vb_json version "$r")
        if [ "$dt" != never ] && [ "$dt" -le "$GONE_BOUND" ] && [ "$(vb_json state_kept "$g")" = true ] &&
            [ $pend = yes ] && [ "$(vb_json ok "$r")" = true ] && [ "$dev" != "?" ] && [ "$dev" -le "$rbound" ] &&
            [ "$vm" = "$vA" ]; then
            pass 4 "kill -9 exporter bridge: daemon_gone after $dt ms (bound $GONE_BOUND); read_data kept version $(vb_json state_version "$g"); the request in flight ended $(vb_json pending_error "$g") after the kill, no late answer; restarted: a new mirror served the origin's state (version $vm = origin's) ${dev} ms after its 'exported' (bound $rbound), ${drs} ms after the restart"
        else
            fail 4 "kill -9 exporter bridge: daemon_gone after $dt ms (bound $GONE_BOUND), state kept $(vb_json state_kept "$g"); request in flight: $(vb_json pending "$g") $(vb_json pending_error "$g") (must end daemon_gone/timeout after the kill: $pend); recovery: ok=$(vb_json ok "$r") ${dev} ms after 'exported' (bound $rbound), ${drs} ms after restart; mirror version $vm, origin's $vA (must be equal)"
        fi
    fi
fi

# ---- 5: kill -9 of the importing bridge -------------------------------------------------------
if want 5; then
    if ! ensure_pair; then
        fail 5 "kill -9 importer bridge: the pair did not come up first"
    else
        rm -f "$VB_WORK/g5.ready"
        vb_start g5 B "$PROBE" wait-gone "$E" 5000 --ready-file "$VB_WORK/g5.ready"
        wait_file "$VB_WORK/g5.ready" 6000
        tk=$(vb_now_ns)
        kill -9 "$(vb_pid bB)"
        wait_exit g5 8000
        g=$(last_json g5)
        dt=$(ms_between "$tk" "$(vb_json gone_unix_ns "$g")")
        [ "$(vb_json gone_unix_ns "$g")" = 0 ] && dt=never
        vb_stop bB KILL
        ro=$(probe A 20 shells "$E" 2 50 --verify)
        read -r vA cA <<<"$(origin_now)"
        tr=$(vb_now_ns)
        bridge_start bB B --import "$E"
        r=$(probe B 10 wait-state "$E" 6000 --version 0 --checksum "$cA")
        drs=$(ms_between "$tr" "$(vb_json t_unix_ns "$r")")
        rs=$(probe B 30 shells "$E" 4 100 --verify)
        lbound=$((300 + SLACK)) rbound=$((2000 + SLACK))
        vm=$(vb_json version "$r")
        if [ "$dt" != never ] && [ "$dt" -le "$lbound" ] && [ "$(vb_json ok "$ro")" = true ] &&
            [ "$(vb_json ok "$r")" = true ] && [ "$drs" -le "$rbound" ] && [ "$vm" = "$vA" ] &&
            [ "$(vb_json ok "$rs")" = true ]; then
            pass 5 "kill -9 importer bridge: B's shell saw daemon_gone after $dt ms (bound $lbound); origin unharmed (2x50 local echoes verified); restarted importer took the mirror over: the origin's state (version $vm = origin's) served ${drs} ms after the restart (bound $rbound); 4x100 remote echoes verified"
        else
            fail 5 "kill -9 importer bridge: gone after $dt ms (bound $lbound); origin local shells ok=$(vb_json ok "$ro"); recovery ok=$(vb_json ok "$r") ${drs} ms (bound $rbound), mirror version $vm, origin's $vA (must be equal); remote shells: $rs"
        fi
    fi
fi

# ---- 6: link down / up ------------------------------------------------------------------------
if want 6; then
    if ! ensure_pair; then
        fail 6 "link down/up: the pair did not come up first"
    else
        rm -f "$VB_WORK/g6.ready"
        vb_start g6 B "$PROBE" wait-gone "$E" 8000 --ready-file "$VB_WORK/g6.ready"
        wait_file "$VB_WORK/g6.ready" 6000
        td=$(vb_now_ns)
        ip -n "$VB_NS_A" link set "$VB_VETH_A" down
        wait_exit g6 12000
        g=$(last_json g6)
        dt=$(ms_between "$td" "$(vb_json gone_unix_ns "$g")")
        [ "$(vb_json gone_unix_ns "$g")" = 0 ] && dt=never
        sleep 2
        read -r vA cA <<<"$(origin_now)"
        tu=$(vb_now_ns)
        ip -n "$VB_NS_A" link set "$VB_VETH_A" up
        ip -n "$VB_NS_A" route replace 224.0.0.0/4 dev "$VB_VETH_A" 2>/dev/null
        r=$(probe B 12 wait-state "$E" 8000 --version 0 --checksum "$cA")
        dup=$(ms_between "$tu" "$(vb_json t_unix_ns "$r")")
        vm=$(vb_json version "$r")
        rs=$(probe B 30 shells "$E" 4 100 --verify)
        rbound=$((1000 + LEASE + SLACK))
        if [ "$dt" != never ] && [ "$dt" -le "$GONE_BOUND" ] && [ "$(vb_json ok "$r")" = true ] &&
            [ "$dup" -le "$rbound" ] && [ "$vm" = "$vA" ] && [ "$(vb_json ok "$rs")" = true ]; then
            pass 6 "link down/up: daemon_gone after $dt ms (bound $GONE_BOUND), state kept=$(vb_json state_kept "$g"); link up 2 s later: the origin's state (version $vm = origin's) served ${dup} ms after the link came back (bound $rbound); 4x100 remote echoes verified"
        else
            fail 6 "link down/up: gone after $dt ms (bound $GONE_BOUND), state kept=$(vb_json state_kept "$g"); recovery ok=$(vb_json ok "$r") ${dup} ms after link up (bound $rbound), mirror version $vm, origin's $vA (must be equal); shells: $rs"
        fi
    fi
fi

# ---- 7: origin daemon restart, kill -9 and clean ----------------------------------------------
if want 7; then
    for how in KILL TERM; do
        if ! ensure_pair; then
            fail 7 "origin restart ($how): the pair did not come up first"
            continue
        fi
        rm -f "$VB_WORK/g7$how.ready"
        vb_start "g7$how" B "$PROBE" wait-gone "$E" 8000 --ready-file "$VB_WORK/g7$how.ready"
        wait_file "$VB_WORK/g7$how.ready" 6000
        tk=$(vb_now_ns)
        kill -"$how" "$(vb_pid origin)"
        wait_exit "g7$how" 12000
        g=$(last_json "g7$how")
        dt=$(ms_between "$tk" "$(vb_json gone_unix_ns "$g")")
        [ "$(vb_json gone_unix_ns "$g")" = 0 ] && dt=never
        vb_stop origin KILL
        tr=$(vb_now_ns)
        origin_start "state-r$how"
        r=$(probe B 12 wait-state "$E" 8000 --version 0 --text "state-r$how")
        drs=$(ms_between "$tr" "$(vb_json t_unix_ns "$r")")
        vA=$(origin_now)
        vA=${vA%% *}
        rs=$(probe B 30 shells "$E" 4 100 --verify)
        rbound=$((2000 + SLACK)) # the exporter retries its origin connection each second
        if [ "$dt" != never ] && [ "$dt" -le "$GONE_BOUND" ] && [ "$(vb_json ok "$r")" = true ] &&
            [ "$drs" -le "$rbound" ] && [ "$(vb_json version "$r")" = "$vA" ] && [ "$(vb_json ok "$rs")" = true ]; then
            pass 7 "origin restart (SIG$how): daemon_gone on B after $dt ms (bound $GONE_BOUND); the new daemon's state 'state-r$how' (version $(vb_json version "$r")) served on B ${drs} ms after its start (bound $rbound); 4x100 remote echoes verified"
        else
            fail 7 "origin restart (SIG$how): gone after $dt ms (bound $GONE_BOUND); new state ok=$(vb_json ok "$r") after ${drs} ms (bound $rbound), mirror version $(vb_json version "$r"), origin's $vA; shells: $rs"
        fi
    done
fi

fi # bridge present

# ---- summary ----------------------------------------------------------------------------------
for t in bA bB; do
    if [ -f "$VB_WORK/$t.log" ] && grep -qiE 'sanitizer|terminate called|Segmentation|Aborted' "$VB_WORK/$t.log"; then
        fail "crash" "bridge $t: $(grep -iE 'sanitizer|terminate called|Segmentation|Aborted' "$VB_WORK/$t.log" | head -2)"
    fi
done
ms_total=$(( ($(date +%s%N) - T_START) / 1000000 )); secs="$((ms_total / 1000)).$(( (ms_total % 1000) / 100 ))"
echo "bridge_test: ${#PASSED[@]} passed (${PASSED[*]:-}), ${#FAILED[@]} failed (${FAILED[*]:-}) in ${secs} s; lease $LEASE ms; logs: $VB_WORK"
if [ "${VB_KEEP:-0}" != 1 ] && [ ${#FAILED[@]} = 0 ]; then
    vb_cleanup
    rm -rf "$VB_WORK"
fi
[ ${#FAILED[@]} = 0 ]
