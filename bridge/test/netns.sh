# bridge/test/netns.sh - two "hosts" in one machine, sourced by bridge_test.sh and bench.sh.
#
# Host A and host B are network namespaces joined by a veth pair (198.18.0.1/24 and
# 198.18.0.2/24: the benchmarking range, RFC 2544; nothing else is ever addressed), each with its
# own /dev/shm: an "anchor" process per host runs in its namespace under
# `unshare --mount --propagation private` with a tmpfs mounted on /dev/shm, and every process of
# that host enters the anchor's mount and network namespaces (nsenter), so they all share that one
# /dev/shm and none sees the other host's channels.
#
# vb_setup             makes the namespaces, the link and the anchors (exit 1, loudly, if it cannot)
# vb_start TAG HOST CMD...   starts CMD in HOST (A or B) in the background, output in $VB_WORK/TAG.log,
#                      its pid recorded (vb_pid TAG) and killed by vb_cleanup
# vb_run HOST SECS CMD...    runs CMD in HOST in the foreground, at most SECS seconds
# vb_cleanup           kills the recorded pids, removes tc qdiscs, the veth and the namespaces
#                      (installed as the EXIT trap by vb_setup)
# Requires root (CAP_NET_ADMIN, CAP_SYS_ADMIN), ip (iproute2), nsenter and unshare (util-linux),
# timeout (coreutils); tc for the benchmark's shaping.

VB_ID=${VB_ID:-$$}
VB_NS_A=vb_a_$VB_ID
VB_NS_B=vb_b_$VB_ID
VB_VETH_A=vba$VB_ID # IFNAMSIZ: 3 + up to 7 digits of a pid
VB_VETH_B=vbb$VB_ID
VB_ADDR_A=198.18.0.1
VB_ADDR_B=198.18.0.2
VB_SHM_SIZE=${VB_SHM_SIZE:-1g}
VB_WORK=${VB_WORK:-$(mktemp -d /tmp/venom_bridge_test.XXXXXX)}
VB_PIDS=()
declare -A VB_PID_OF
VB_ANCHOR_A=
VB_ANCHOR_B=
VB_TC=()

vb_log() { printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2; }
vb_now_ms() { echo $(($(date +%s%N) / 1000000)); }
vb_now_ns() { date +%s%N; }

vb_die_setup() {
    echo "bridge_test: cannot create network namespaces ($1): this test needs root and netns" >&2
    vb_cleanup
    exit 1
}

# Namespaces of killed earlier runs (their pid is gone): only our own prefix.
vb_remove_stale() {
    local ns id
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^vb_[ab]_[0-9]+$'); do
        id=${ns##*_}
        if ! kill -0 "$id" 2>/dev/null; then
            ip netns del "$ns" 2>/dev/null && vb_log "removed stale namespace $ns"
        fi
    done
}

vb_anchor() { # NS VAR: VAR = pid of a process holding the host's mount ns with its own /dev/shm
    local ns=$1 pid i
    ip netns exec "$ns" unshare --mount --propagation private \
        sh -c "mount -t tmpfs -o size=$VB_SHM_SIZE,mode=1777 tmpfs /dev/shm && exec sleep 3600" \
        >"$VB_WORK/anchor_$ns.log" 2>&1 &
    pid=$!
    VB_PIDS+=("$pid")
    for i in $(seq 100); do # at most 5 s for the mount
        if [ "$(readlink /proc/$pid/ns/mnt 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] &&
            nsenter -t "$pid" -m -- grep -q ' /dev/shm tmpfs .*size=' /proc/self/mounts 2>/dev/null &&
            [ "$(cat /proc/$pid/comm 2>/dev/null)" = sleep ]; then
            printf -v "$2" '%s' "$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$VB_WORK/anchor_$ns.log" >&2
    return 1
}

vb_setup() {
    trap vb_cleanup EXIT
    trap 'exit 130' INT TERM
    [ "$(id -u)" = 0 ] || vb_die_setup "not root: uid $(id -u)"
    local t
    for t in ip nsenter unshare timeout; do
        command -v "$t" >/dev/null || vb_die_setup "no $t"
    done
    vb_remove_stale
    ip netns add "$VB_NS_A" 2>"$VB_WORK/netns.err" || vb_die_setup "ip netns add: $(cat "$VB_WORK/netns.err")"
    ip netns add "$VB_NS_B" 2>"$VB_WORK/netns.err" || vb_die_setup "ip netns add: $(cat "$VB_WORK/netns.err")"
    ip link add "$VB_VETH_A" type veth peer name "$VB_VETH_B" 2>"$VB_WORK/netns.err" ||
        vb_die_setup "ip link add veth: $(cat "$VB_WORK/netns.err")"
    ip link set "$VB_VETH_A" netns "$VB_NS_A" && ip link set "$VB_VETH_B" netns "$VB_NS_B" ||
        vb_die_setup "moving the veth ends into the namespaces failed"
    ip -n "$VB_NS_A" addr add "$VB_ADDR_A/24" dev "$VB_VETH_A" &&
        ip -n "$VB_NS_B" addr add "$VB_ADDR_B/24" dev "$VB_VETH_B" || vb_die_setup "addresses"
    local ns dev
    for ns in "$VB_NS_A:$VB_VETH_A" "$VB_NS_B:$VB_VETH_B"; do
        dev=${ns#*:}
        ns=${ns%%:*}
        ip -n "$ns" link set lo up &&
            ip -n "$ns" link set dev "$dev" multicast on up &&
            ip -n "$ns" route add 224.0.0.0/4 dev "$dev" || vb_die_setup "bringing $dev up in $ns"
    done
    vb_anchor "$VB_NS_A" VB_ANCHOR_A || vb_die_setup "unshare --mount + tmpfs on /dev/shm in $VB_NS_A"
    vb_anchor "$VB_NS_B" VB_ANCHOR_B || vb_die_setup "unshare --mount + tmpfs on /dev/shm in $VB_NS_B"
    local i
    for i in $(seq 50); do # the link (carrier on both ends): at most 5 s
        ip -n "$VB_NS_A" link show dev "$VB_VETH_A" | grep -q LOWER_UP &&
            ip -n "$VB_NS_B" link show dev "$VB_VETH_B" | grep -q LOWER_UP && break
        sleep 0.1
    done
    ip -n "$VB_NS_A" link show dev "$VB_VETH_A" | grep -q LOWER_UP || vb_die_setup "the veth has no carrier"
    vb_log "hosts up: A=$VB_NS_A ($VB_VETH_A $VB_ADDR_A, anchor $VB_ANCHOR_A)" \
        "B=$VB_NS_B ($VB_VETH_B $VB_ADDR_B, anchor $VB_ANCHOR_B); logs in $VB_WORK"
}

vb_anchor_of() { case $1 in A) echo "$VB_ANCHOR_A" ;; B) echo "$VB_ANCHOR_B" ;; *) return 1 ;; esac; }
vb_ns_of() { case $1 in A) echo "$VB_NS_A" ;; B) echo "$VB_NS_B" ;; *) return 1 ;; esac; }
vb_veth_of() { case $1 in A) echo "$VB_VETH_A" ;; B) echo "$VB_VETH_B" ;; *) return 1 ;; esac; }

vb_start() { # TAG HOST CMD...
    local tag=$1 host=$2 anchor
    shift 2
    anchor=$(vb_anchor_of "$host") || return 1
    nsenter -t "$anchor" -m -n -- "$@" >>"$VB_WORK/$tag.log" 2>&1 &
    VB_PIDS+=("$!")
    VB_PID_OF[$tag]=$!
    disown "$!" # no "Killed" notices from bash for the kill -9 scenarios; bash still reaps it
}
vb_pid() { echo "${VB_PID_OF[$1]:-0}"; }
vb_alive() { local p=${VB_PID_OF[$1]:-0}; [ "$p" != 0 ] && kill -0 "$p" 2>/dev/null; }

vb_run() { # HOST SECS CMD...
    local host=$1 secs=$2 anchor
    shift 2
    anchor=$(vb_anchor_of "$host") || return 1
    timeout -k 2 "$secs" nsenter -t "$anchor" -m -n -- "$@"
}

# Stops TAG: signal SIG (default TERM), waits at most 5 s, then SIGKILL.
vb_stop() {
    local tag=$1 sig=${2:-TERM} p i
    p=${VB_PID_OF[$1]:-0}
    [ "$p" = 0 ] && return 0
    kill -"$sig" "$p" 2>/dev/null
    for i in $(seq 100); do
        kill -0 "$p" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$p" 2>/dev/null
    VB_PID_OF[$tag]=0
    return 0
}

vb_tc_add() { # HOST ARGS...: tc qdisc add dev <HOST's veth> ARGS
    local host=$1 dev
    shift
    dev=$(vb_veth_of "$host")
    ip netns exec "$(vb_ns_of "$host")" tc qdisc add dev "$dev" "$@" && VB_TC+=("$host")
}
vb_tc_del() {
    local host=$1
    ip netns exec "$(vb_ns_of "$host")" tc qdisc del dev "$(vb_veth_of "$host")" root 2>/dev/null
    return 0
}

vb_cleanup() {
    local p h
    trap - EXIT
    for p in "${VB_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for p in "${VB_PIDS[@]}"; do { wait "$p"; } 2>/dev/null; done
    for h in "${VB_TC[@]}"; do vb_tc_del "$h"; done
    ip -n "$VB_NS_A" link del "$VB_VETH_A" 2>/dev/null
    ip link del "$VB_VETH_A" 2>/dev/null
    ip netns del "$VB_NS_A" 2>/dev/null
    ip netns del "$VB_NS_B" 2>/dev/null
    VB_PIDS=()
    return 0
}

# Waits (at most MS) until FILE has a JSON line with "event":"EV" (and, if given, matching the
# extended regex RE) past line SKIP; prints the line. Returns 1 on timeout.
vb_wait_event() { # FILE EV MS [SKIP] [RE]
    local file=$1 ev=$2 ms=$3 skip=${4:-0} re=${5:-.} i line
    for i in $(seq $((ms / 20 + 1))); do
        line=$(tail -n +$((skip + 1)) "$file" 2>/dev/null | grep -E "\"event\" *: *\"$ev\"" | grep -E -- "$re" | head -1)
        if [ -n "$line" ]; then
            echo "$line"
            return 0
        fi
        sleep 0.02
    done
    return 1
}
vb_lines() { wc -l <"$1" 2>/dev/null || echo 0; }

# A JSON field's value from one line: numbers and booleans bare, strings without quotes.
vb_json() { # FIELD LINE
    printf '%s\n' "$2" | grep -oE "\"$1\" *: *(\"[^\"]*\"|[^,}]*)" | head -1 | sed -E 's/^"[^"]*" *: *//; s/^"//; s/"$//'
}
