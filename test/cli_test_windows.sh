#!/usr/bin/env bash
# SPDX-License-Identifier: BSL-1.0
# The `venom` tool built for Windows, run under wine against the example daemon:
#   bash test/cli_test_windows.sh VENOM_EXE DAEMON_EXE
# tools/windows.sh builds both (.exe, mingw-w64) and runs this with its WINEPREFIX/WINEDEBUG.
# Every wine call is bounded by `timeout`; the daemon is killed in a trap. The tool's text
# output under wine has CRLF line ends (the C runtime's text mode): \r is stripped before
# comparing. Prints one line per check and "cli_test_windows: N passed, M failed".
set -uo pipefail
venom_exe=${1:?usage: cli_test_windows.sh VENOM_EXE DAEMON_EXE}
daemon_exe=${2:?usage: cli_test_windows.sh VENOM_EXE DAEMON_EXE}
wine_bin=$(command -v wine || command -v wine64) || { echo "wine not found"; exit 1; }
name=venom_cli_win_$$
daemon_seconds=60 # the daemon's own lifetime: longer than the checks, it is killed before
call_limit=30     # seconds for one wine call (the first ones start wine's services)
work=$(mktemp -d)
passed=0
failed=0

daemon_pid=
cleanup() {
    [ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
    timeout "$call_limit" "$wine_bin" "$venom_exe" rm "$name" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); echo "   ok: $1"; }
bad() { failed=$((failed + 1)); echo "   FAILED: $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/      /'; }

# run ARGS...: runs venom.exe; sets rc, out (stdout, \r stripped), err (stderr, \r stripped).
run() {
    timeout "$call_limit" "$wine_bin" "$venom_exe" "$@" > "$work/out" 2> "$work/err"
    rc=$?
    out=$(tr -d '\r' < "$work/out")
    err=$(tr -d '\r' < "$work/err")
}
# expect WHAT RC [REGEX]: the last run exited RC and its stdout matches REGEX (grep -E).
expect() {
    local what=$1 want=$2 re=${3:-}
    if [ "$rc" != "$want" ]; then bad "$what (exit $rc, not $want)" "$out$err"; return; fi
    if [ -n "$re" ] && ! grep -Eq -- "$re" <<< "$out"; then bad "$what (no /$re/)" "$out$err"; return; fi
    ok "$what"
}

echo "== venom.exe under wine ($venom_exe)"
run --version
expect "--version" 0 '^venom [0-9]+\.[0-9]+\.[0-9]+ \(shared-memory layout version [0-9]+\)$'
if [ "$(head -c 200 "$work/out" | tr -cd '\r' | wc -c)" -ge 1 ]; then
    ok "text output has CRLF line ends (stripped below)"
else
    ok "text output has LF line ends"
fi

timeout $((daemon_seconds + 10)) "$wine_bin" "$daemon_exe" "$name" "$daemon_seconds" > "$work/daemon.log" 2>&1 &
daemon_pid=$!
run wait "$name" --timeout 20000 # the first start of the daemon under wine takes seconds
expect "wait NAME --timeout 20000: the daemon comes up" 0 "^$name alive \(pid [0-9]+\) after [0-9]+ ms$"

run list
expect "list: the channel, its daemon alive" 0 "^$name +[0-9]+ alive "
run list --json
expect "list --json: alive" 0 "^\{\"channels\":\[.*\"name\":\"$name\",\"status\":\"alive\",\"stale\":false,\"daemon_alive\":true"
win_pid=$(grep -o '"daemon_pid":[0-9]*' <<< "$out" | head -1 | cut -d: -f2)
run stat "$name"
expect "stat NAME: alive" 0 "^channel +$name +\(alive\)$"
grep -Eq '^heartbeat +[0-9.]+ s ago \([0-9]+ beats\)$' <<< "$out" && ok "stat NAME: a heartbeat line" ||
    bad "stat NAME: no heartbeat line" "$out"
run stat "$name" --json
expect "stat --json: alive, a heartbeat" 0 "^\{\"name\":\"$name\",\"status\":\"alive\".*\"heartbeat\":\{\"age_s\""
[ "$(wc -l <<< "$out")" = 1 ] && ok "stat --json: one line" || bad "stat --json: not one line" "$out"
run read "$name"
expect "read NAME: a tick" 0 '^tick [0-9]+: hello from the daemon$'
run read "$name" --follow --count 2 --timeout 5000
expect "read --follow --count 2: two versions" 0 '^\[v[0-9]+\] tick [0-9]+'
[ "$(grep -c '^\[v[0-9]*\] tick' <<< "$out")" = 2 ] && ok "read --follow --count 2: exactly 2 lines" ||
    bad "read --follow --count 2: not 2 lines" "$out"
run call "$name" ping
expect "call NAME ping" 0 '^pong$'
run wait "$name" --timeout 3000
expect "wait NAME --timeout 3000 (alive)" 0 "^$name alive \(pid $win_pid\)"
t0=$(date +%s%N)
run wait missing_$$ --timeout 100
t1=$(date +%s%N)
expect "wait missing --timeout 100: exit 1" 1
grep -q "no live daemon serves missing_$$ after 100 ms" <<< "$err" && ok "wait missing: the timeout text" ||
    bad "wait missing: no timeout text" "$err"
wait_limit_ms=10000 # 100 ms of looking, plus wine's start of the process
[ $(((t1 - t0) / 1000000)) -lt $wait_limit_ms ] && ok "wait missing: under $wait_limit_ms ms" ||
    bad "wait missing: took $(((t1 - t0) / 1000000)) ms"
run stat missing_$$
expect "stat missing: exit 3" 3
grep -q "no channel \"missing_$$\" on this machine" <<< "$err" && ok "stat missing: says so" ||
    bad "stat missing: no message" "$err"
run stat missing_$$ --json
expect "stat missing --json: exit 3, the error object" 3 '^\{"command":"stat","error":\{"code":"channel_not_found","exit_code":3,'
[ "$(wc -l <<< "$out")" = 1 ] && [ -z "$err" ] && ok "stat missing --json: one line, empty stderr" ||
    bad "stat missing --json: not one line with empty stderr" "$out|$err"
run rm "$name"
expect "rm NAME while alive: exit 5" 5
grep -q "is served by a live daemon" <<< "$err" && ok "rm while alive: says why" || bad "rm while alive: no reason" "$err"
run list --color always
expect "list --color always: the DAEMON cell green" 0 $'\033\\[32m[0-9]+ alive'
run list --color never
if [ "$rc" = 0 ] && ! grep -q $'\033' <<< "$out"; then ok "list --color never: no escape"; else bad "list --color never" "$out"; fi
run list
grep -q $'\033' <<< "$out" && bad "list piped (auto): escape codes" "$out" || ok "list piped (auto): no escape"
run top --count 1 --json
expect "top --count 1 --json" 0 "\"name\":\"$name\""
run completion bash
expect "completion bash" 0 'complete -F'
run help --man
expect "help --man" 0 '^\.TH VENOM 1'

# Kill the daemon (TerminateProcess through wine's taskkill): on Windows its lock and liveness
# files stay in %TEMP% (under the wine prefix); venom sees their locks gone: stale.
if [ -n "$win_pid" ] && timeout "$call_limit" "$wine_bin" taskkill /F /PID "$win_pid" > "$work/kill" 2>&1; then
    ok "taskkill /F /PID $win_pid"
else
    bad "taskkill /F /PID ${win_pid:-?} failed" "$(cat "$work/kill" 2>/dev/null)"
    kill -9 "$daemon_pid" 2>/dev/null
fi
wait "$daemon_pid" 2>/dev/null
daemon_pid=
run list
expect "list after the kill: dead, STALE" 0 "^$name +$win_pid dead .*STALE"
run list --json
expect "list --json after the kill: stale" 0 "\"name\":\"$name\",\"status\":\"stale\",\"stale\":true,\"daemon_alive\":false"
run stat "$name"
expect "stat after the kill: exit 4, STALE" 4 "^channel +$name +\(STALE"
run rm "$name"
expect "rm NAME (stale): removed" 0 "^removed stale channel \"$name\""
run stat "$name"
expect "stat after rm: exit 3" 3

run serve "$name" --echo
expect "serve: exit 2" 2
grep -qx "venom serve: not supported on Windows yet (it needs a Win32 process runner)" <<< "$err" &&
    ok "serve: the not-supported text" || bad "serve: not the not-supported text" "$err"

echo "cli_test_windows: $passed passed, $failed failed"
[ "$failed" = 0 ]
