#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Tests of the `venom` tool: every subcommand against a live channel, a stale one (its daemon
# killed with SIGKILL) and a missing one; output and exit code checked. The live channel is served
# by the example daemon (a state "tick N: ..." every 100 ms; "ping" -> "pong", "set X" -> "ok").
#   usage: cli_test.sh VENOM EXAMPLE_DAEMON
set -uo pipefail
venom=$1; daemon=$2
live="vt_cli_live_$$"; stale="vt_cli_stale_$$"; missing="vt_cli_missing_$$"
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -f /dev/shm/venom."$live".* /dev/shm/venom."$stale".*
    rm -rf "$tmp"
}
trap cleanup EXIT

failures=0; checks=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# run RC CMD...: runs CMD, checks its exit code; its output is in $out and $err.
run() {
    local want=$1; shift
    checks=$((checks + 1))
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    out=$(cat "$tmp/out"); err=$(cat "$tmp/err")
    if [ "$rc" != "$want" ]; then
        fail "'$*' exited with $rc, expected $want"; echo "  stdout: $out"; echo "  stderr: $err"
    fi
}
has_out() { grep -qF -- "$1" <<<"$out" || { fail "stdout of the last command lacks '$1'"; echo "  stdout: $out"; }; }
has_err() { grep -qF -- "$1" <<<"$err" || { fail "stderr of the last command lacks '$1'"; echo "  stderr: $err"; }; }
empty_err() { [ -z "$err" ] || fail "stderr of the last command is not empty: $err"; }
lacks_out() { if grep -qF -- "$1" <<<"$out"; then fail "stdout of the last command has '$1'"; fi; }
wait_live() { # NAME: until `venom stat` sees its daemon (5 s at most)
    for _ in $(seq 100); do "$venom" stat "$1" --interval 1 >/dev/null 2>&1 && return 0; sleep 0.05; done
    fail "the daemon of $1 did not come up"; return 1
}

# ---- set-up: a live channel; a stale one, made by SIGKILL while `read --follow` follows it ----
"$daemon" "$live" 60 >"$tmp/live.log" 2>&1 & pids+=($!); live_pid=$!
"$daemon" "$stale" 60 >"$tmp/stale.log" 2>&1 & pids+=($!); stale_pid=$!
wait_live "$live" && wait_live "$stale" || exit 1

echo "== read --follow of a daemon killed meanwhile"
"$venom" read "$stale" --follow >"$tmp/follow.out" 2>"$tmp/follow.err" & follower=$!
sleep 0.4
kill -9 "$stale_pid"; wait "$stale_pid" 2>/dev/null
timeout 10 tail --pid="$follower" -f /dev/null; wait "$follower"; rc=$?
checks=$((checks + 1))
[ "$rc" = 4 ] || fail "read --follow ended with $rc when its daemon was killed, expected 4"
grep -q '^\[v[0-9]*\] tick' "$tmp/follow.out" || fail "read --follow printed no version: $(cat "$tmp/follow.out")"
grep -qF "went away" "$tmp/follow.err" || fail "read --follow did not say the daemon went away: $(cat "$tmp/follow.err")"

echo "== usage errors and help"
run 0 "$venom" --help;                    has_out "exit codes"; has_out "stat"
run 2 "$venom";                           has_err "missing the COMMAND"
run 2 "$venom" frobnicate;                has_err 'unknown command "frobnicate"'
run 0 "$venom" stat --help;               has_out "--watch"; has_out "usage: venom stat NAME"
run 0 "$venom" help read;                 has_out "--follow"
run 2 "$venom" stat;                      has_err "missing the channel NAME"; has_err "usage: venom stat"
run 2 "$venom" stat "$live" --bogus;      has_err "unrecognised option '--bogus'"
run 2 "$venom" stat "bad/name";           has_err "bad channel NAME"
run 2 "$venom" read "$live" --hex --raw;  has_err "choose one of --hex, --text and --raw"
run 2 "$venom" call "$live";              has_err "missing the command CMD"
run 2 "$venom" call "$live" ping --timeout soon; has_err "--timeout"
run 2 "$venom" call "$live" zz --hex;     has_err "hex digits"
run 2 "$venom" rm;                        has_err "missing the channel NAME"
run 2 "$venom" stat "$live" --json --bogus; has_out '"code":"usage"'; empty_err # said once, in JSON

echo "== list"
run 0 "$venom" list
grep -E "^$live +[0-9]+ alive +0/16 +64 KiB" <<<"$out" >/dev/null || fail "list: no live row for $live: $out"
grep -E "^$stale +$stale_pid dead +.*STALE" <<<"$out" >/dev/null || fail "list: no stale row for $stale: $out"
lacks_out "$missing"
run 0 "$venom" list --json
has_out "{\"name\":\"$live\",\"status\":\"alive\",\"stale\":false,\"daemon_alive\":true,\"daemon_pid\":$live_pid"
has_out "{\"name\":\"$stale\",\"status\":\"stale\",\"stale\":true,\"daemon_alive\":false,\"daemon_pid\":$stale_pid"

echo "== stat"
run 0 "$venom" stat "$live"
has_out "channel   $live  (alive)"; has_out "pid $live_pid (alive)"
grep -E "^layout    version ([0-9]+) \(this tool reads \1\)" <<<"$out" >/dev/null || fail "stat: no matching layout version: $out"
has_out "max_clients 16"; has_out "waits spin_then_block"; has_out "updates/s"; has_out "depth 0 of 128"
has_out "malformed"; has_out "handler errors 0"; has_out "0 of 16 connected"
run 0 "$venom" stat "$live" --json
has_out '"status":"alive"'; has_out '"wait_policy":"spin_then_block"'; has_out '"queue":{"depth":0,"capacity":128'
grep -E '"tool_layout_version":([0-9]+),"layout_version":\1,' <<<"$out" >/dev/null || fail "stat --json: layout versions: $out"
# a client: a follower holds slot 0; killed, its record stays behind as dead
"$venom" read "$live" --follow >/dev/null 2>&1 & reader=$!; pids+=($reader)
for _ in $(seq 100); do "$venom" stat "$live" | grep -q "1 of 16 connected" && break; sleep 0.05; done
run 0 "$venom" stat "$live"
has_out "1 of 16 connected"
grep -E "^  0 +$reader +yes " <<<"$out" >/dev/null || fail "stat: no live slot 0 for pid $reader: $out"
run 0 "$venom" stat "$live" --json
has_out "\"slots\":[{\"id\":0,\"pid\":$reader,\"alive\":true"
kill -9 "$reader"; wait "$reader" 2>/dev/null
run 0 "$venom" stat "$live"
has_out "0 of 16 connected"
grep -E "^  0 +$reader +no \(dead\)" <<<"$out" >/dev/null || fail "stat: slot 0 of killed pid $reader not shown dead: $out"
run 0 "$venom" stat "$live" --watch --count 2 --interval 200
[ "$(grep -c "^channel   $live" <<<"$out")" = 2 ] || fail "stat --watch --count 2 did not print 2 refreshes: $out"
run 0 "$venom" stat "$live" --watch --count 2 --interval 200 --json
[ "$(grep -c '"status":"alive"' <<<"$out")" = 2 ] || fail "stat --watch --json did not print 2 lines: $out"
run 4 "$venom" stat "$stale";             has_out "STALE"; has_out "pid $stale_pid (dead)"
run 4 "$venom" stat "$stale" --json;      has_out '"status":"stale","stale":true'; has_out '"daemon":{"alive":false'
run 3 "$venom" stat "$missing";           has_err "no channel \"$missing\""
run 3 "$venom" stat "$missing" --json;    has_out '"code":"channel_not_found","exit_code":3'; empty_err

echo "== read"
run 0 "$venom" read "$live";              has_out "tick "; has_out "hello from the daemon"
run 0 "$venom" read "$live" --hex;        has_out "00000000  74 69 63 6b"; has_out "|tick"
run 0 "$venom" read "$live" --raw
run 0 "$venom" read "$live" --json;       has_out "{\"name\":\"$live\",\"version\":"; has_out '"text":"tick '
run 0 "$venom" read "$live" --follow --count 3 --timeout 5000
[ "$(grep -c '^\[v[0-9]*\] tick' <<<"$out")" = 3 ] || fail "read --follow --count 3: $out"
v1=$(sed -n '1s/^\[v\([0-9]*\)\].*/\1/p' <<<"$out"); v3=$(sed -n '3s/^\[v\([0-9]*\)\].*/\1/p' <<<"$out")
[ "$v3" -gt "$v1" ] 2>/dev/null || fail "read --follow: versions do not grow: $out"
run 0 "$venom" read "$live" --follow --count 2 --json
[ "$(grep -c '"version":' <<<"$out")" = 2 ] || fail "read --follow --json: $out"
run 4 "$venom" read "$stale";             has_out "tick "; has_err "is stale"; has_err "pid $stale_pid"
run 4 "$venom" read "$stale" --json;      has_out '"stale":true'; empty_err
# --timeout bounds the wait for each next version: the example daemon ticks every 100 ms, so a
# 50 ms limit runs out after at most two versions (each wait ends by the deadline; a version
# after it is not in time), well within a second even on a busy machine
t0=$(date +%s%N)
run 1 "$venom" read "$live" --follow --timeout 50; has_err "within 50 ms"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$ms" -lt 1000 ] || fail "read --follow --timeout 50 took $ms ms"
run 4 "$venom" read "$stale" --follow;    has_out "tick "
run 3 "$venom" read "$missing";           has_err "no channel \"$missing\""

echo "== call"
run 0 "$venom" call "$live" ping;         [ "$out" = "pong" ] || fail "call ping printed '$out'"
run 0 "$venom" call "$live" ping --json;  has_out '"text":"pong"'; has_out '"round_trip_us":'
run 0 "$venom" call "$live" "70 69 6e 67" --hex; has_out "70 6f 6e 67"
run 0 "$venom" call "$live" "set from the cli"; [ "$out" = "ok" ] || fail "call set printed '$out'"
run 0 "$venom" read "$live";              has_out "from the cli"
run 0 sh -c "printf ping | '$venom' call '$live' -"; [ "$out" = "pong" ] || fail "call - printed '$out'"
run 1 "$venom" call "$live" "$(head -c 5000 /dev/zero | tr '\0' x)"
has_err "max_cmd_size is 4096"; has_err "message too large"
run 1 "$venom" call "$live" "$(head -c 5000 /dev/zero | tr '\0' x)" --json; has_out '"code":"message_too_large"'
run 4 "$venom" call "$stale" ping;        has_err "has no running daemon"; has_err "venom rm $stale"
run 3 "$venom" call "$missing" ping;      has_err "no channel \"$missing\""

echo "== rm"
run 5 "$venom" rm "$live";                has_err "served by a live daemon (pid $live_pid)"
[ -e "/dev/shm/venom.$live.shm" ] || fail "rm removed a live channel's segment"
run 0 "$venom" stat "$live"
run 3 "$venom" rm "$missing";             has_err "no channel \"$missing\""
run 3 "$venom" rm "$missing" --json;      has_out '"result":"channel_not_found"'
run 0 "$venom" rm "$stale";               has_out "removed stale channel \"$stale\" (its daemon, pid $stale_pid, was dead)"
[ -e "/dev/shm/venom.$stale.shm" ] || [ -e "/dev/shm/venom.$stale.lock" ] && fail "rm left the stale channel's files"
run 3 "$venom" stat "$stale"
run 0 "$venom" list;                      lacks_out "$stale"

echo "== bench"
mkdir -p "$tmp/alone" && cp "$venom" "$tmp/alone/venom"
run 6 "$tmp/alone/venom" bench;           has_err "venom_bench is not built"
run 6 "$tmp/alone/venom" bench --json;    has_out '"code":"not_built","exit_code":6'
run 0 "$tmp/alone/venom" bench --help;    has_out "usage: venom bench"
if [ -x "$(dirname "$venom")/../bench/venom_bench" ]; then
    run 0 "$venom" bench --help;          has_out "venom_bench --help"
fi

echo "== the live daemon stops: its channel is gone"
kill -TERM "$live_pid"; wait "$live_pid"; rc=$?
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "the example daemon exited with $rc"
run 3 "$venom" stat "$live"
run 0 "$venom" list;                      lacks_out "$live"

if [ "$failures" = 0 ]; then echo "cli: OK ($checks commands checked)"; else echo "cli: $failures FAILED of $checks"; exit 1; fi
