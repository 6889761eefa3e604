#!/usr/bin/env bash
# Start a fresh graphmill server (free port, temporary data folder), run every benchmark
# against it, stop it and remove the folder.
#
#   bash bench/run_all.sh                # everything, default sizes
#   QUICK=1 bash bench/run_all.sh        # small sizes, a smoke run of the harness
#
#   REF=HEAD bash bench/run_all.sh      # serve the graphmill/ of a git ref (a snapshot
#                                       # immune to edits of the work tree during the run)
#
# Extra arguments per benchmark: MEM_ARGS, STATUS_ARGS, ADD_ARGS, RAW_ARGS (RAW_ARGS defaults
# to a 1 GiB file, the spec's workload).
# PYTHON and GRAPHMILL select the interpreter and the server command.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
py=${PYTHON:-$root/.venv/bin/python}
graphmill=${GRAPHMILL:-$root/.venv/bin/graphmill}

if [[ -z "${QUICK:-}" ]]; then
  RAW_ARGS=${RAW_ARGS:---size 1G --repeat 5}
else
  MEM_ARGS=${MEM_ARGS:---size 64M}
  STATUS_ARGS=${STATUS_ARGS:---sizes 1,10,50 --repeat 20 --upload-size 16M --cognify-docs 5}
  ADD_ARGS=${ADD_ARGS:---repeat 3 --large-size 16M --large-repeat 1}
  RAW_ARGS=${RAW_ARGS:---size 16M --repeat 2 --range-samples 5}
fi

data_dir=$(mktemp -d /tmp/graphmill-bench.XXXXXX)
log=$(mktemp /tmp/graphmill-bench-log.XXXXXX)
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
server_pid=""
snapshot=""

cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data_dir" ${snapshot:+"$snapshot"}
  rm -f "$log"
}
trap cleanup EXIT

echo "# graphmill benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "# cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
if [[ -n "${REF:-}" ]]; then
  snapshot=$(mktemp -d /tmp/graphmill-bench-src.XXXXXX)
  git -C "$root" archive "$REF" graphmill | tar -x -C "$snapshot"
  export PYTHONPATH="$snapshot${PYTHONPATH:+:$PYTHONPATH}"
  echo "# code: graphmill/ of $REF = $(git -C "$root" rev-parse --short "$REF") (snapshot $snapshot)"
else
  dirty=$(git -C "$root" status --porcelain -- graphmill 2>/dev/null | grep -q . && echo ' + uncommitted changes under graphmill/' || true)
  echo "# code: work tree at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty${PYTHONPATH:+ (PYTHONPATH=$PYTHONPATH)}"
fi
echo "# server: $graphmill serve --port $port (GRAPHMILL_DATA_DIR=$data_dir, LOG_LEVEL=WARNING)"

start=$("$py" -c 'import time; print(time.time())')
GRAPHMILL_DATA_DIR="$data_dir" LOG_LEVEL=WARNING "$graphmill" serve --port "$port" >"$log" 2>&1 &
server_pid=$!
"$py" - "$base" "$start" <<'EOF'
import sys, time, httpx
base, start = sys.argv[1], float(sys.argv[2])
deadline = time.time() + 60
while time.time() < deadline:
    try:
        if httpx.get(base + "/health", timeout=1).status_code == 200:
            print(f"# start-up to healthy: {time.time() - start:.2f} s")
            sys.exit(0)
    except httpx.HTTPError:
        pass
    time.sleep(0.02)
sys.exit("server did not become healthy")
EOF

rss() { awk '/VmRSS/ {printf "%.1f MB", $2 * 1024 / 1e6}' "/proc/$server_pid/status"; }
echo "# server PID $server_pid, RSS after start-up: $(rss)"

run() {
  echo
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "\$ python ${*#"$root/"}"
  "$py" "$@"
}

# Memory first, on the freshest server, so the baseline is not inflated by earlier runs.
# shellcheck disable=SC2086
run "$here/memory_1gb.py" --base-url "$base" --pid "$server_pid" ${MEM_ARGS:-}
# shellcheck disable=SC2086
run "$here/status_latency.py" --base-url "$base" --pid "$server_pid" ${STATUS_ARGS:-}
# shellcheck disable=SC2086
run "$here/add_throughput.py" --base-url "$base" --pid "$server_pid" --disk-dir "$data_dir" ${ADD_ARGS:-}
# shellcheck disable=SC2086
run "$here/raw_download.py" --base-url "$base" --pid "$server_pid" ${RAW_ARGS:-}

echo
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# server RSS after all benchmarks: $(rss)"
echo "# data folder size before clean-up: $(du -sh "$data_dir" | cut -f1)"
