#!/usr/bin/env bash
# HTTP echo with wrk: the tutorial's echo service (examples/serve/echo.yaml) served by
# `engine-run serve` on 127.0.0.1, loaded by wrk with keep-alive, 2 threads and 64
# connections for DURATION seconds (5 by default), GET /?data=Hello. The script starts the
# server on a free port, runs the load, stops the server with SIGTERM (a drain: it must exit
# 0) and prints wrk's report and one line of results. Server, model and wrk share the
# machine's cores: nothing is pinned.
#
# The baseline, in the same run and under the same load: bench/http_floor (the same HTTP and
# JSON libraries, one thread answering each request itself, no model), loaded the same way
# just before. The last line gives both and their ratios.
#
#   bench/http_echo.sh [BUILD_DIR]          (BUILD_DIR: build-release by default)
#   DURATION=10 bench/http_echo.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-release}
duration=${DURATION:-5}
engine_run=$build/tools/engine-run/engine-run
plugin=$build/examples/libecho.so
floor=$build/bench/http_floor
for file in "$engine_run" "$plugin" "$floor"; do
  [ -e "$file" ] || { echo "http_echo: $file is missing (build first)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "http_echo: wrk is missing (tools/dev setup)" >&2; exit 2; }

work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill -KILL "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a server (its command in "$@") whose stderr names its port; sets server and port.
start_server() {
  "$@" 2>"$work/err" &
  server=$!
  port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/err" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$port" ] || { echo "http_echo: $1 did not start" >&2; cat "$work/err" >&2; exit 1; }
  local reply
  reply=$(curl -s "http://127.0.0.1:$port/?data=Hello")
  [ "$reply" = '"Received data: Hello"' ] || { echo "http_echo: unexpected reply $reply" >&2; exit 1; }
}

# Loads the server on $port with wrk; its report in $work/$1.
load() {
  timeout $((duration + 30)) wrk -t2 -c64 -d"${duration}s" --latency \
    "http://127.0.0.1:$port/?data=Hello" | tee "$work/$1"
}

# Stops the server with SIGTERM; it must exit 0.
stop_server() {
  kill -TERM "$server"
  local status=0
  wait "$server" || status=$?
  server=
  [ "$status" -eq 0 ] || { echo "http_echo: the server exited $status after SIGTERM" >&2; cat "$work/err" >&2; exit 1; }
}

# wrk's latency as microseconds ("812.00us", "2.65ms", "1.02s").
micros() {
  awk -v t="$1" 'BEGIN { v = t + 0; if (t ~ /us$/) print v; else if (t ~ /ms$/) print v * 1000; else print v * 1000000 }'
}

echo "== the floor: bench/http_floor"
start_server "$floor" 0
load floor
stop_server

echo "== the echo service: engine-run serve examples/serve/echo.yaml"
start_server "$engine_run" serve --plugin "$plugin" "$root/examples/serve/echo.yaml" --port 0
load wrk
stop_server

rps=$(sed -n 's/^Requests\/sec: *//p' "$work/wrk")
p99=$(sed -n 's/^ *99% *//p' "$work/wrk")
errors=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$work/wrk")
floor_rps=$(sed -n 's/^Requests\/sec: *//p' "$work/floor")
floor_p99=$(sed -n 's/^ *99% *//p' "$work/floor")
ratios=$(awk -v a="$rps" -v b="$floor_rps" -v c="$(micros "$p99")" -v d="$(micros "$floor_p99")" \
  'BEGIN { printf "%.2fx the floor'"'"'s requests/s, p99 %.2fx the floor'"'"'s", a / b, c / d }')
echo "http_echo: ${rps} requests/s, p99 ${p99}, non-2xx ${errors:-0}; floor ${floor_rps} requests/s, p99 ${floor_p99}; ${ratios}; wrk -t2 -c64 -d${duration}s, keep-alive"
