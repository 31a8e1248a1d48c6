#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# Tests of the `venom` tool: every subcommand against a live channel, a stale one (its daemon
# killed with SIGKILL) and a missing one; output and exit code checked. The live channel is served
# by the example daemon (a state "tick N: ..." every 100 ms; "ping" -> "pong", "set X" -> "ok").
# `venom serve` is tested against itself: channels it hosts, read and called by the tool.
#   usage: cli_test.sh VENOM EXAMPLE_DAEMON
set -uo pipefail
venom=$1; daemon=$2
live="vt_cli_live_$$"; stale="vt_cli_stale_$$"; missing="vt_cli_missing_$$"
served=() # the names of the channels `venom serve` hosts here (removed at the end, whatever happens)
sv() { printf -v "$1" 'vt_cli_%s_%s' "$1" "$$"; served+=("${!1}"); } # sv VAR: a unique name in $VAR
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -f /dev/shm/venom."$live".* /dev/shm/venom."$stale".*
    for n in "${served[@]}"; do rm -f /dev/shm/venom."$n".*; done
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
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# ended PID SECONDS: waits (bounded) for background process PID to end; its exit code in $rc
# (124 if it did not end in time: it is then killed)
ended() {
    if ! timeout "$2" tail --pid="$1" -f /dev/null; then kill -9 "$1" 2>/dev/null; fi
    wait "$1"; rc=$?
    if kill -0 "$1" 2>/dev/null; then rc=124; fi
}
no_files() { # NAME: the channel's files are gone
    checks=$((checks + 1))
    if compgen -G "/dev/shm/venom.$1.*" >/dev/null; then fail "files of $1 left behind: $(ls /dev/shm/venom."$1".*)"; fi
}
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

echo "== bridge"
run 6 "$tmp/alone/venom" bridge --import x;        has_err "venom_bridge is not built"
run 6 "$tmp/alone/venom" bridge --import x --json; has_out '"code":"not_built","exit_code":6'
run 0 "$tmp/alone/venom" bridge --help;            has_out "usage: venom bridge"
if [ -x "$(dirname "$venom")/../bridge/venom_bridge" ]; then
    run 0 "$venom" bridge --help;                  has_out "--export NAME"
    run 2 "$venom" bridge --import x --lease 5;    has_err "--lease must be 100..60000, got 5"
fi

echo "== serve: arguments"
sv bad
run 2 "$venom" serve "$bad" --echo --cmd-slots 0;   has_err "--cmd-slots must be 1..1048576, got 0"
run 2 "$venom" serve "$bad" --echo --data-size 5Q;  has_err "the argument ('5Q') for option '--data-size' is invalid"
run 2 "$venom" serve "$bad" --echo --exec cat;      has_err "choose one of --echo and --exec"
run 2 "$venom" serve "$bad";                        has_err "say how requests are answered: --echo, or --exec CMD"
run 2 "$venom" serve "$bad" --echo --access root;   has_err "--access must be owner, group or everyone"
run 2 "$venom" serve "$bad" --echo --bogus;         has_err "unrecognised option '--bogus'"
run 2 "$venom" serve "$bad" --echo --json --state-buffers 9; has_out '"code":"usage"'; has_out "--state-buffers must be 2..8"; empty_err
run 0 "$venom" serve --help;                        has_out "one request at a time"; has_out "--exec-timeout MS"
no_files "$bad"

echo "== serve --echo: a round trip, the name taken twice, SIGTERM"
sv echo_n
"$venom" serve "$echo_n" --echo </dev/null 2>"$tmp/echo.err" & pids+=($!); echo_pid=$!
wait_live "$echo_n"
grep -qF "serving $echo_n (pid $echo_pid)" "$tmp/echo.err" || fail "serve did not say 'serving $echo_n (pid $echo_pid)': $(cat "$tmp/echo.err")"
run 0 "$venom" call "$echo_n" "hello there"; [ "$out" = "hello there" ] || fail "serve --echo answered '$out'"
run 0 "$venom" call "$echo_n" "00 ff 10" --hex; has_out "00 ff 10"
run 5 "$venom" serve "$echo_n" --echo;      has_err "a live daemon already serves \"$echo_n\""
run 5 "$venom" serve "$echo_n" --echo --json; has_out '"code":"channel_exists","exit_code":5'; empty_err
run 0 "$venom" call "$echo_n" ping;         [ "$out" = "ping" ] || fail "the first serve stopped answering after a second one was refused: '$out'"
kill -TERM "$echo_pid"; ended "$echo_pid" 10
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "serve exited with $rc after SIGTERM, expected 0"
no_files "$echo_n"
grep -qF "stopped serving $echo_n (SIGTERM" "$tmp/echo.err" || fail "serve did not say it stopped: $(cat "$tmp/echo.err")"
run 3 "$venom" stat "$echo_n"

echo "== serve --exec: the command's stdout, exit code, stderr, time and size"
sv up
"$venom" serve "$up" --exec 'tr a-z A-Z' </dev/null 2>"$tmp/up.err" & pids+=($!); up_pid=$!
sv env_n
"$venom" serve "$env_n" --exec 'printf "%s %s" "$VENOM_CHANNEL" "$VENOM_CLIENT"' </dev/null 2>/dev/null & pids+=($!); env_pid=$!
sv oops
"$venom" serve "$oops" --exec 'echo oops >&2; exit 3' </dev/null 2>/dev/null & pids+=($!); oops_pid=$!
sv slow
"$venom" serve "$slow" --exec 'sleep 5' --exec-timeout 200 </dev/null 2>/dev/null & pids+=($!); slow_pid=$!
sv big
"$venom" serve "$big" --exec 'head -c 5000 /dev/zero' </dev/null 2>/dev/null & pids+=($!); big_pid=$!
sv chatty # writes 1 MB to stderr before it reads its stdin: must not deadlock
"$venom" serve "$chatty" --exec 'head -c 1000000 /dev/zero >&2; wc -c' </dev/null 2>/dev/null & pids+=($!); chatty_pid=$!
sv leaver # leaves a process behind in its group: killed when it ends
"$venom" serve "$leaver" --exec "sleep 7.$$ & echo started" </dev/null 2>/dev/null & pids+=($!); leaver_pid=$!
for n in "$up" "$env_n" "$oops" "$slow" "$big" "$chatty" "$leaver"; do wait_live "$n"; done
run 0 timeout 10 "$venom" call "$chatty" abcd; [ "$out" = 4 ] || fail "--exec writing 1 MB to stderr first answered '$out', expected 4"
run 0 "$venom" call "$leaver" x;            [ "$out" = started ] || fail "--exec 'sleep & echo' answered '$out'"
sleep 0.2; checks=$((checks + 1))
left=$(pgrep -f "^sleep 7\\.$$\$") # anchored: serve's own command line holds the words too
if [ -n "$left" ]; then fail "the process --exec left in its group still runs (pid $left)"; kill $left; fi
run 0 "$venom" call "$up" abc;              [ "$out" = "ABC" ] || fail "--exec 'tr a-z A-Z' answered '$out' to abc"
run 0 "$venom" call "$up" "$(head -c 3000 /dev/zero | tr '\0' q)"; [ "$out" = "$(head -c 3000 /dev/zero | tr '\0' Q)" ] || fail "--exec 'tr a-z A-Z' mangled 3000 bytes"
run 0 "$venom" call "$env_n" x;             [ "$out" = "$env_n 0" ] || fail "--exec's VENOM_CHANNEL VENOM_CLIENT: '$out', expected '$env_n 0'"
run 1 "$venom" call "$oops" x;              has_err "exited with 3: oops"
run 1 "$venom" call "$oops" x --json;       has_out '"code":"handler_failed"'; has_out "exited with 3: oops"
t0=$(date +%s%N)
run 1 "$venom" call "$slow" x;              has_err "timed out after 200 ms"
ms=$(ms_since "$t0"); [ "$ms" -lt 3000 ] || fail "--exec-timeout 200 answered after $ms ms"
run 1 "$venom" call "$big" x;               has_err "wrote more than 4096 bytes"
run 1 "$venom" call "$big" x --json;        has_out '"code":"message_too_large"'
run 0 "$venom" call "$up" again;            [ "$out" = "AGAIN" ] || fail "--exec stopped answering after the errors: '$out'"
# SIGINT ends it as SIGTERM does (a background job's SIGINT is ignored; serve takes it anyway)
kill -INT "$up_pid"; ended "$up_pid" 10
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "serve exited with $rc after SIGINT, expected 0"
no_files "$up"
for p in "$env_pid" "$oops_pid" "$slow_pid" "$big_pid" "$chatty_pid" "$leaver_pid"; do kill -TERM "$p"; ended "$p" 10; done
# a request in flight when SIGTERM comes: its child is stopped, the call gets an error, serve exits 0
sv hang
"$venom" serve "$hang" --exec 'sleep 30' </dev/null 2>/dev/null & pids+=($!); hang_pid=$!
wait_live "$hang"
"$venom" call "$hang" x >/dev/null 2>"$tmp/hang.err" & caller=$!
sleep 0.3
t0=$(date +%s%N); kill -TERM "$hang_pid"; ended "$hang_pid" 10
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "serve with a request in flight exited with $rc after SIGTERM"
ms=$(ms_since "$t0"); [ "$ms" -lt 3000 ] || fail "serve with a request in flight took $ms ms to stop"
ended "$caller" 10
checks=$((checks + 1)); [ "$rc" = 1 ] || fail "the call in flight ended with $rc, expected 1"
grep -qF "shutting down" "$tmp/hang.err" || fail "the call in flight did not say serve was shutting down: $(cat "$tmp/hang.err")"
no_files "$hang"

echo "== serve: the state from stdin's lines and from a file"
sv lines
mkfifo "$tmp/lines.fifo"
"$venom" serve "$lines" --echo --data-size 16 <"$tmp/lines.fifo" 2>"$tmp/lines.err" & pids+=($!); lines_pid=$!
exec 7>"$tmp/lines.fifo"
wait_live "$lines"
printf 'first\nsecond\n' >&7
for _ in $(seq 100); do "$venom" read "$lines" 2>/dev/null | grep -qx second && break; sleep 0.05; done
run 0 "$venom" read "$lines" --json;        has_out '"version":2,'; has_out '"text":"second","truncated":false'
printf 'a line of more than sixteen bytes\n' >&7
for _ in $(seq 100); do grep -q "skipped a line" "$tmp/lines.err" && break; sleep 0.05; done
grep -qF "skipped a line of 33 bytes: over data_size 16" "$tmp/lines.err" || fail "serve did not report the long line: $(cat "$tmp/lines.err")"
run 0 "$venom" read "$lines";               [ "$out" = "second" ] || fail "after a long line the state is '$out', expected second"
printf 'last, no newline' >&7
exec 7>&-
for _ in $(seq 100); do "$venom" read "$lines" 2>/dev/null | grep -q "no newline" && break; sleep 0.05; done
run 0 "$venom" read "$lines";               [ "$out" = "last, no newline" ] || fail "the last line without its newline: '$out'"
run 0 "$venom" call "$lines" "still here";  [ "$out" = "still here" ] || fail "serve stopped answering at the end of stdin: '$out'"
kill -TERM "$lines_pid"; ended "$lines_pid" 10
sv eof
printf 'a\nb\n' | timeout 10 "$venom" serve "$eof" --echo --exit-on-eof 2>"$tmp/eof.err"; rc=$?
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "serve --exit-on-eof exited with $rc, expected 0 (124: it did not stop)"
grep -qF "end of stdin" "$tmp/eof.err" || fail "serve --exit-on-eof did not say why it stopped: $(cat "$tmp/eof.err")"
no_files "$eof"
sv file_n
printf 'state one' >"$tmp/state"
"$venom" serve "$file_n" --echo --state-file "$tmp/state" --poll 50 2>"$tmp/file.err" & pids+=($!); file_pid=$!
wait_live "$file_n"
for _ in $(seq 100); do "$venom" read "$file_n" 2>/dev/null | grep -q "state one" && break; sleep 0.05; done
run 0 "$venom" read "$file_n";              [ "$out" = "state one" ] || fail "--state-file: the state is '$out'"
timeout 10 "$venom" read "$file_n" --follow --count 2 --timeout 5000 >"$tmp/file.follow" 2>&1 & follower=$!
sleep 0.3
printf 'state two' >"$tmp/state.new" && mv "$tmp/state.new" "$tmp/state" # replaced whole
ended "$follower" 10
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "read --follow of a --state-file channel ended with $rc: $(cat "$tmp/file.follow")"
grep -q '^\[v[0-9]*\] state two$' "$tmp/file.follow" || fail "read --follow did not see the rewritten file: $(cat "$tmp/file.follow")"
head -c 70000 /dev/zero >"$tmp/state.new" && mv "$tmp/state.new" "$tmp/state"
for _ in $(seq 100); do grep -q "over data_size" "$tmp/file.err" && break; sleep 0.05; done
grep -qF "has 70000 bytes, over data_size 65536" "$tmp/file.err" || fail "serve did not report the big state file: $(cat "$tmp/file.err")"
run 0 "$venom" read "$file_n";              [ "$out" = "state two" ] || fail "after a too big file the state is '$out', expected 'state two'"
kill -TERM "$file_pid"; ended "$file_pid" 10
no_files "$file_n"

echo "== read --follow --timeout against serve (issue 14 bug 1)"
# Updates every 50 ms against a 20 ms limit: the limit runs out between two updates. Before the
# fix, each wait took a 100 ms slice and an update inside it counted as in time (and re-armed
# the deadline), so this ran until timeout(1) killed it: 124.
sv fast
(while :; do echo t; sleep 0.05; done) | "$venom" serve "$fast" --echo 2>/dev/null & pids+=($!); fast_pid=$!
wait_live "$fast"
run 1 timeout 5 "$venom" read "$fast" --follow --timeout 20; has_err "within 20 ms"
kill -TERM "$fast_pid"; ended "$fast_pid" 10
# A channel that never publishes: --timeout 50 fails after 50 ms, well before 1.5 s (one-sided
# and generous: a busy 2-core machine).
sv quiet
"$venom" serve "$quiet" --echo </dev/null 2>/dev/null & pids+=($!); quiet_pid=$!
wait_live "$quiet"
t0=$(date +%s%N)
run 1 "$venom" read "$quiet" --follow --timeout 50; has_err "within 50 ms"
ms=$(ms_since "$t0")
checks=$((checks + 1)); { [ "$ms" -ge 50 ] && [ "$ms" -lt 1500 ]; } || fail "read --follow --timeout 50 of a quiet channel took $ms ms (expected 50..1500)"
kill -TERM "$quiet_pid"; ended "$quiet_pid" 10
no_files "$quiet"

echo "== stat: the heartbeat and the error log"
sv oops
"$venom" serve "$oops" --exec 'echo no such key >&2; exit 3' </dev/null 2>/dev/null & pids+=($!); oops_pid=$!
wait_live "$oops"
run 1 "$venom" call "$oops" "get k1"
run 1 "$venom" call "$oops" "get k2"
run 0 "$venom" stat "$oops";              has_out "errors    2 logged"; has_out "handler_failed"
has_out "no such key"; has_out "heartbeat "; lacks_out "never"
run 0 "$venom" stat "$oops" --json;       has_out '"errors":{"logged":2'; has_out '"code":"handler_failed"'
has_out '"heartbeat":{"age_s":'
kill -TERM "$oops_pid"; ended "$oops_pid" 10

echo "== a handler that blocks: STUCK? once its heartbeat is a second old"
sv stuck
"$venom" serve "$stuck" --exec 'sleep 4' --exec-timeout 8000 </dev/null 2>/dev/null & pids+=($!); stuck_pid=$!
wait_live "$stuck"
"$venom" call "$stuck" "x" --timeout 6000 >/dev/null 2>&1 & caller=$!
stuck_seen=0
for _ in $(seq 60); do # 6 s at most
    sleep 0.1
    "$venom" stat "$stuck" --interval 200 2>/dev/null | grep -q "heartbeat STUCK?" && { stuck_seen=1; break; }
done
checks=$((checks + 1)); [ "$stuck_seen" = 1 ] || fail "stat never showed STUCK? while the handler slept"
kill -TERM "$stuck_pid"; ended "$stuck_pid" 15; ended "$caller" 10

echo "== files named like a channel that no venom daemon made (issue 14 bug 3)"
junk="vt_cli_junk_$$"; served+=("$junk")
head -c 8192 /dev/urandom > "/dev/shm/venom.$junk.shm"
run 0 "$venom" list;                      has_out "$junk"; has_out "NOT VENOM'S"; lacks_out "creating"
run 0 "$venom" list --json;               has_out '"status":"foreign"'
run 1 "$venom" stat "$junk";              has_out "NOT VENOM'S"; lacks_out "creating"
run 0 "$venom" rm --all-stale;            lacks_out "$junk" # never counted as a stale channel
checks=$((checks + 1)); [ -f "/dev/shm/venom.$junk.shm" ] || fail "rm --all-stale removed a file no venom daemon made"
run 0 "$venom" rm "$junk";                has_out "removed files named like channel"
no_files "$junk"

echo "== another user sees a live root daemon as alive (issue 14 bug 4)"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
    run 0 as_nobody "$venom" list;        has_out "$live"; lacks_out "dead"; has_out "no access (uid 0)"
    run 0 as_nobody "$venom" list --json; has_out '"status":"alive"'; has_out '"readable":false'
    run 0 as_nobody "$venom" stat "$live"; has_out "(alive)"; has_out "may not be read by this user"
else
    echo "   SKIPPED: needs root and setpriv to run the tool as another user"
fi

echo "== completion, list --names, the man page"
has_line() { grep -qxF -- "$1" <<<"$out" || { fail "stdout of the last command has no line '$1'"; echo "  stdout: $out"; }; }
lacks_line() { if grep -qxF -- "$1" <<<"$out"; then fail "stdout of the last command has a line '$1'"; fi; }
run 0 "$venom" completion bash;           printf '%s\n' "$out" >"$tmp/venom.bash"
run 2 "$venom" completion zsh;            has_err 'no completion for "zsh": only bash'
# comp WORDS...: what _venom offers for the last word, one per line in $out: the script sourced
# in a fresh bash, as bash-completion would call it (the tool named by WORDS[0])
comp() {
    run 0 bash -c 'source "$1" || exit 9; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _venom; printf "%s\n" "${COMPREPLY[@]}"' _ "$tmp/venom.bash" "$@"
}
comp "$venom" st;                         has_line stat; lacks_line serve
comp "$venom" "";                         # every command `venom --help` lists
commands=$("$venom" --help | sed -n '/^commands:/,/^$/s/^  \([a-z]*\) .*/\1/p')
checks=$((checks + 1)); [ "$(wc -w <<<"$commands")" -ge 8 ] || fail "venom --help lists too few commands: $commands"
for c in $commands; do has_line "$c"; done
comp "$venom" stat --w;                   [ "$out" = "--watch" ] || fail "completion of 'stat --w': '$out'"
comp "$venom" read -;                     has_line --follow; has_line -f; has_line --json
comp "$venom" serve x --access g;         [ "$out" = group ] || fail "completion of '--access g': '$out'"
comp "$venom" serve x --access = e;       [ "$out" = everyone ] || fail "completion of '--access=e' (split at =): '$out'"
comp "$venom" serve x --access=o;         [ "$out" = --access=owner ] || fail "completion of '--access=o' (one word): '$out'"
comp "$venom" serve x --wait "";          has_line spin_then_block; has_line busy_poll
comp "$venom" serve x --state-file "$tmp/venom.ba"; [ "$out" = "$tmp/venom.bash" ] || fail "completion of --state-file FILE: '$out'"
comp "$venom" completion "";              [ "$out" = bash ] || fail "completion of 'completion': '$out'"
sv names_n
"$venom" serve "$names_n" --echo </dev/null 2>/dev/null & pids+=($!); names_pid=$!
wait_live "$names_n"
# Other channels of this machine may be listed too: each line must be a bare name with files.
only_names() {
    checks=$((checks + 1))
    while IFS= read -r l; do
        compgen -G "/dev/shm/venom.$l.*" >/dev/null || fail "$1 gave '$l': no channel has that name"
    done <<<"$out"
}
run 0 "$venom" list --names;              has_line "$names_n"; empty_err; only_names "list --names"
run 2 "$venom" list --names --json;       has_out '"code":"usage"'
comp "$venom" stat "${names_n%_*}";       has_line "$names_n"
comp "$venom" stat "";                    has_line "$names_n"; only_names "the completion of stat NAME"
comp "$venom" stat --interval 5 "${names_n%_*}"; has_line "$names_n" # the option's value is not a positional
comp "$venom" rm x "${names_n%_*}";       has_line "$names_n"        # NAME... repeats
comp "$venom" call "$names_n" "";         [ -z "$out" ] || fail "completion of call's CMD offered: $out"
kill -TERM "$names_pid"; ended "$names_pid" 10
run 0 "$venom" list --names;              lacks_line "$names_n"
run 0 "$venom" help --man;                printf '%s\n' "$out" >"$tmp/venom.1"
has_line '.TH VENOM 1 "" "venom '"$("$venom" --version | sed -n 's/^venom \([0-9.]*\) .*/\1/p')"'"'
for c in $commands; do has_line ".SS $c"; done
for s in NAME SYNOPSIS DESCRIPTION COMMANDS '"EXIT STATUS"' ENVIRONMENT FILES '"SEE ALSO"'; do has_line ".SH $s"; done
has_out '\fB\-\-follow\fR'; has_out 'printable as \exNN'; has_out 'VENOM_CHANNEL'
for c in $commands; do # each option of `venom C --help` has its .TP line in C's section
    section=$(awk -v ss=".SS $c" '$0 == ss { on = 1; next } /^\.S[SH] / { on = 0 } on' "$tmp/venom.1")
    for o in $("$tmp/alone/venom" "$c" --help | sed -n 's/^  \(-. \[ \)\{0,1\}--\([a-z-]*\).*/\2/p'); do
        checks=$((checks + 1))
        grep -qF -- "\fB\-\-${o//-/\\-}\fR" <<<"$section" || fail "the man page's $c section lacks --$o"
    done
done
checks=$((checks + 1)); bad=$(grep -n '^[^.].*[^\\]-\|^-' "$tmp/venom.1") && fail "unescaped '-' in the man page: $bad"
if command -v groff >/dev/null; then
    checks=$((checks + 1))
    warn=$(groff -man -Tutf8 -ww -z "$tmp/venom.1" 2>&1) || fail "groff failed on the man page"
    [ -z "$warn" ] || fail "groff warns about the man page: $warn"
else
    echo "SKIP: groff is not installed (apt-get install groff-base): the man page is not checked with groff -ww"
fi

echo "== wait"
sv wt
"$venom" wait "$wt" --timeout 3000 >"$tmp/wait.out" 2>"$tmp/wait.err" & waiter=$!
sleep 0.3
checks=$((checks + 1)); kill -0 "$waiter" 2>/dev/null || fail "wait ended before anything served $wt: $(cat "$tmp/wait.err")"
t0=$(date +%s%N)
"$venom" serve "$wt" --echo </dev/null 2>/dev/null & pids+=($!); wt_pid=$!
ended "$waiter" 10
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "wait ended with $rc once serve started, expected 0: $(cat "$tmp/wait.err")"
ms=$(ms_since "$t0"); [ "$ms" -lt 2500 ] || fail "wait saw serve only after $ms ms"
grep -qE "^$wt alive \(pid $wt_pid\) after [0-9]+ ms$" "$tmp/wait.out" || fail "wait did not say '$wt alive (pid $wt_pid) after N ms': $(cat "$tmp/wait.out")"
run 0 "$venom" wait "$wt" --timeout 0 --json
has_out "{\"command\":\"wait\",\"name\":\"$wt\",\"status\":\"alive\",\"pid\":$wt_pid,\"waited_ms\":"; empty_err
t0=$(date +%s%N)
run 1 "$venom" wait "$missing" --timeout 100; has_err "no live daemon serves $missing after 100 ms (now: missing)"
ms=$(ms_since "$t0"); checks=$((checks + 1)); { [ "$ms" -ge 100 ] && [ "$ms" -lt 1500 ]; } || fail "wait --timeout 100 took $ms ms (expected 100..1500)"
run 1 "$venom" wait "$missing" --timeout 100 --json; empty_err
has_out "{\"command\":\"wait\",\"error\":{\"code\":\"timeout\",\"exit_code\":1,\"message\":\"no live daemon serves $missing after 100 ms (now: missing)\"}}"
checks=$((checks + 1)); [ "$(wc -l <<<"$out")" = 1 ] || fail "wait --json printed more than one line: $out"
run 1 "$venom" wait "$missing" --timeout 0; has_err "after 0 ms"
run 2 "$venom" wait;                        has_err "missing the channel NAME"
run 2 "$venom" wait "$wt" --interval 0;     has_err "--interval must be at least 1"
# Ctrl-C: exit 1, "interrupted" (a background job's SIGINT is ignored; wait takes it anyway)
"$venom" wait "$missing" --json >"$tmp/wait_int.out" 2>&1 & waiter=$!
sleep 0.3; kill -INT "$waiter"; ended "$waiter" 5
checks=$((checks + 1)); [ "$rc" = 1 ] || fail "wait ended with $rc at SIGINT, expected 1"
grep -qF '"code":"interrupted","exit_code":1' "$tmp/wait_int.out" || fail "wait at SIGINT did not say interrupted: $(cat "$tmp/wait_int.out")"
# every client slot taken: wait takes none, so it still sees the daemon
sv full
"$venom" serve "$full" --echo --max-clients 1 </dev/null 2>/dev/null & pids+=($!)
wait_live "$full"
"$venom" read "$full" --follow >/dev/null 2>&1 & holder=$!; pids+=($holder)
for _ in $(seq 100); do "$venom" stat "$full" | grep -q "1 of 1 connected" && break; sleep 0.05; done
run 1 "$venom" call "$full" x;              has_err "too many clients" # the slot is taken indeed
run 0 "$venom" wait "$full" --timeout 1000
kill -9 "$holder"; wait "$holder" 2>/dev/null

echo "== top"
# JSON Lines: python3 parses each line of $out; pyjson EXPR prints EXPR over `docs`
pyjson() { python3 -c "import json,sys; docs=[json.loads(l) for l in sys.stdin.read().splitlines()]; print($1)" <<<"$out" 2>&1; }
sv aidle # sorts before $wt by name, and has no requests
"$venom" serve "$aidle" --echo </dev/null 2>/dev/null & pids+=($!)
wait_live "$aidle"
(for _ in $(seq 3000); do "$venom" call "$wt" x >/dev/null 2>&1 || break; done) & caller=$!; pids+=($caller)
sleep 0.3
run 0 "$venom" top --count 2 --interval 200 --json; empty_err
checks=$((checks + 1)); [ "$(pyjson 'len(docs)')" = 2 ] || fail "top --count 2 --json: not 2 lines of JSON: $out"
checks=$((checks + 1)); r=$(pyjson "[c['requests_per_s'] > 0 and c['status'] == 'alive' and c['pid'] == $wt_pid and c['max_clients'] == 16 for d in docs for c in d['channels'] if c['name'] == '$wt']")
[ "$r" = "[True, True]" ] || fail "top --json: $wt not in both refreshes, alive with requests_per_s > 0: $r; $out"
checks=$((checks + 1)); r=$(pyjson "sorted(docs[0]['channels'][0].keys())")
[ "$r" = "['age_s', 'clients', 'errors', 'heartbeat_age_s', 'max_clients', 'name', 'new_errors', 'pid', 'queue_depth', 'requests_per_s', 'status', 'stuck', 'updates_per_s']" ] || fail "top --json: the keys of a channel: $r"
run 0 "$venom" top --count 1 --interval 200 --sort req
checks=$((checks + 1)); order=$(grep -oE "^($wt|$aidle) " <<<"$out" | tr -d ' ' | tr '\n' ' ')
[ "$order" = "$wt $aidle " ] || fail "top --sort req: $wt (calls running) is not above $aidle (idle): '$order'; $out"
run 0 "$venom" top --count 1 --interval 200 --sort name
checks=$((checks + 1)); order=$(grep -oE "^($wt|$aidle) " <<<"$out" | tr -d ' ' | tr '\n' ' ')
[ "$order" = "$aidle $wt " ] || fail "top --sort name: '$order'; $out"
run 2 "$venom" top --sort size;             has_err "--sort must be name, req, upd, clients, depth, heartbeat or errors"
kill "$caller" 2>/dev/null; wait "$caller" 2>/dev/null
# text, not a tty: the header once per refresh, the blocks apart by a blank line, no screen clearing
run 0 "$venom" top --count 2 --interval 200
checks=$((checks + 1)); [ "$(grep -cE '^NAME +STATUS +PID +CLIENTS +REQ/S +UPD/S +DEPTH +HEARTBEAT +ERRORS +AGE$' <<<"$out")" = 2 ] || fail "top --count 2: not 2 header rows: $out"
checks=$((checks + 1)); [ "$(grep -c '^$' <<<"$out")" = 1 ] || fail "top --count 2: not one blank line between the blocks: $out"
grep -E "^$aidle +alive +[0-9]+ +0/16 +0\.0 +0\.0 +0 +[0-9.]+s +0 +[0-9.]+s$" <<<"$out" >/dev/null || fail "top: no row for the idle $aidle: $out"
lacks_out $'\033'
run 0 "$venom" top --count 1 --alive;       lacks_out "$missing"; has_out "$aidle"
# a handler that does not return: one call in flight for 4 s; after ~1 s its heartbeat is old,
# the queue holds the call and nothing is handled: STUCK?
sv blocked
"$venom" serve "$blocked" --exec 'sleep 4' </dev/null 2>/dev/null & pids+=($!)
wait_live "$blocked"
"$venom" call "$blocked" x >/dev/null 2>&1 & caller=$!; pids+=($caller)
sleep 1.3
seen=""
for _ in $(seq 8); do # until 4 s at most have passed (the call ends then)
    "$venom" top --count 1 --interval 200 >"$tmp/top.out" 2>&1
    grep -qE "^$blocked +STUCK\? " "$tmp/top.out" && { seen=yes; break; }
    sleep 0.1
done
checks=$((checks + 1)); [ -n "$seen" ] || fail "top did not show $blocked STUCK? with a handler blocked for 4 s: $(cat "$tmp/top.out")"
grep -qE "^$aidle +alive " "$tmp/top.out" || fail "top: the idle $aidle is not plainly alive next to a stuck one: $(cat "$tmp/top.out")"
run 0 "$venom" top --count 1 --interval 200 --json
checks=$((checks + 1)); r=$(pyjson "[(c['stuck'], c['queue_depth']) for c in docs[0]['channels'] if c['name'] in ('$blocked', '$aidle')]")
case "$r" in "[(False, 0), (True, 1)]") ;; *) [ -n "$seen" ] && fail "top --json: stuck and depth of $aidle, $blocked: $r";; esac
ended "$caller" 10

echo "== colour"
esc=$'\033'; sgr=$'\033\\[[0-9;]*m' # any escape; a colour code
run 0 "$venom" top --count 1 --color always; has_out "${esc}[1mNAME"; has_out "${esc}[32malive${esc}[0m"
run 0 "$venom" top --count 1;                lacks_out "$esc" # piped, auto
run 0 "$venom" top --count 1 --color always --json; lacks_out "$esc"
run 0 "$venom" wait "$aidle" --color always; has_out "$aidle ${esc}[32malive${esc}[0m (pid"
run 2 "$venom" top --color sometimes;        has_err "--color must be auto, always or never, got \"sometimes\""
run 0 "$venom" list --color always;          has_out "${esc}[1mNAME"; has_out "${esc}[32m"; has_out " alive${esc}[0m"
run 0 "$venom" list;                         lacks_out "$esc" # piped, auto
run 0 "$venom" stat "$aidle" --color always; has_out "(${esc}[32malive${esc}[0m)"
run 0 "$venom" stat "$aidle" --color always --json; lacks_out "$esc"
if script --version 2>/dev/null | grep -q util-linux; then
    # in a pty (script(1)): auto colours unless NO_COLOR is set or TERM is dumb
    pty() { env "$@" script -qfec "'$venom' top --count 1" /dev/null </dev/null; }
    run 0 pty TERM=xterm;                    grep -qE "$sgr" <<<"$out" || fail "top in a pty with --color auto: no colour: $out"
    has_out "${esc}[H${esc}[2J" # a terminal: the screen is cleared
    run 0 pty TERM=xterm NO_COLOR=1;         if grep -qE "$sgr" <<<"$out"; then fail "NO_COLOR=1: top coloured in a pty: $out"; fi
    run 0 pty TERM=xterm NO_COLOR=;          grep -qE "$sgr" <<<"$out" || fail "an empty NO_COLOR turned colour off: $out"
    run 0 pty TERM=dumb;                     if grep -qE "$sgr" <<<"$out"; then fail "TERM=dumb: top coloured in a pty: $out"; fi
    run 0 env TERM=xterm script -qfec "'$venom' top --count 1 --json" /dev/null </dev/null; lacks_out "$esc"
else
    echo "SKIP: the pty checks of --color auto (no util-linux script(1) on this machine)"
fi

echo "== the live daemon stops: its channel is gone"
kill -TERM "$live_pid"; wait "$live_pid"; rc=$?
checks=$((checks + 1)); [ "$rc" = 0 ] || fail "the example daemon exited with $rc"
run 3 "$venom" stat "$live"
run 0 "$venom" list;                      lacks_out "$live"

if [ "$failures" = 0 ]; then echo "cli: OK ($checks commands checked)"; else echo "cli: $failures FAILED of $checks"; exit 1; fi
