#!/usr/bin/env bash
# HTTP echo with wrk: the tutorial's echo service (examples/serve/echo.yaml) served by
# `engine-run serve` on 127.0.0.1, loaded by wrk with keep-alive, 2 threads and 64
# connections for DURATION seconds (5 by default), GET /?data=Hello. The script starts the
# server on a free port, runs the load, stops the server with SIGTERM (a drain: it must exit
# 0) and prints wrk's report and one line of results. Server, model and wrk share the
# machine's cores: nothing is pinned.
#
#   bench/http_echo.sh [BUILD_DIR]          (BUILD_DIR: build-release by default)
#   DURATION=10 bench/http_echo.sh
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-release}
duration=${DURATION:-5}
engine_run=$build/tools/engine-run/engine-run
plugin=$build/examples/libecho.so
for file in "$engine_run" "$plugin"; do
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

"$engine_run" serve --plugin "$plugin" "$root/examples/serve/echo.yaml" --port 0 \
  2>"$work/err" &
server=$!
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/err" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { echo "http_echo: the server did not start" >&2; cat "$work/err" >&2; exit 1; }

reply=$(curl -s "http://127.0.0.1:$port/?data=Hello")
[ "$reply" = '"Received data: Hello"' ] || { echo "http_echo: unexpected reply $reply" >&2; exit 1; }

timeout $((duration + 30)) wrk -t2 -c64 -d"${duration}s" --latency \
  "http://127.0.0.1:$port/?data=Hello" | tee "$work/wrk"

kill -TERM "$server"
status=0
wait "$server" || status=$?
server=
[ "$status" -eq 0 ] || { echo "http_echo: the server exited $status after SIGTERM" >&2; cat "$work/err" >&2; exit 1; }

rps=$(sed -n 's/^Requests\/sec: *//p' "$work/wrk")
p99=$(sed -n 's/^ *99% *//p' "$work/wrk")
errors=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' "$work/wrk")
echo "http_echo: ${rps} requests/s, p99 ${p99}, non-2xx ${errors:-0}; wrk -t2 -c64 -d${duration}s, keep-alive"
