#!/usr/bin/env bash
# Run bench/time_to_searchable.py against fresh graphmill servers, one set-up after another,
# each with its own temporary data folder and free port; stop everything afterwards.
#
# Set-ups (SETUPS, space-separated, default "a b c"):
#   a  default settings: offline extractor (no LLM configured), local all-MiniLM-L6-v2
#   b  LLM_ENDPOINT at the zero-latency fake (bench/fake_llm_server.py), local embedder
#   c  LLM and embeddings (EMBEDDING_PROVIDER=openai_compatible) both from the fake: the
#      pipeline's own overhead, LLM and embedding time excluded (SPEC.md section 6)
#   d  offline extractor, embeddings from the fake: offline extraction without embedding
#
#   bash bench/run_time_to_searchable.sh
#   DOCS=100 SETUPS="c" bash bench/run_time_to_searchable.sh
#
# PG=1 runs every set-up on PostgreSQL (a pgserver from the test extras, started here; the
# CPU of its backend processes is printed apart). DOCS (default 200), BATCH (files per add
# request, default 50), BENCH_ARGS (more options
# for time_to_searchable.py), OUT_DIR (keep the JSON results and server logs there),
# PYTHON and GRAPHMILL select the interpreter and the server command. PYSPY=DIR records a
# py-spy profile of the server during each set-up's run (raw folded stacks, GIL-holding
# samples only, 200 Hz) into DIR/profile-<set-up>.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
py=${PYTHON:-$root/.venv/bin/python}
graphmill=${GRAPHMILL:-$root/.venv/bin/graphmill}
setups=${SETUPS:-a b c}
docs=${DOCS:-200}
batch=${BATCH:-50}
work=$(mktemp -d /tmp/graphmill-tts.XXXXXX)
out_dir=${OUT_DIR:-$work/out}
mkdir -p "$out_dir"
server_pid=""
fake_pid=""

stop() {  # stop one process we started, by its PID
  local pid=$1
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  fi
}

pg_url=""
pg_dir=""
cleanup() {
  stop "$server_pid"
  stop "$fake_pid"
  if [[ -n "$pg_dir" ]]; then
    "$py" -c 'import sys, pgserver; pgserver.get_server(sys.argv[1]).cleanup()' "$pg_dir" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"  # data folders, and the JSON results and logs unless OUT_DIR was given
}
trap cleanup EXIT

cpu_s() {  # user + system CPU seconds of a process
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

free_port() {
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "# time to searchable, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "# machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
echo "# cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
dirty=$(git -C "$root" status --porcelain -- graphmill 2>/dev/null | grep -q . && echo ' + uncommitted changes under graphmill/' || true)
echo "# code: work tree at $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
echo "# set-ups: $setups; $docs documents, $batch per add request; JSON and logs in $out_dir${OUT_DIR:+ (kept)}"

if [[ "${PG:-}" == 1 ]]; then
  pg_dir="$work/pg"
  pg_url=$("$py" -W ignore -c 'import sys, pgserver; print(pgserver.get_server(sys.argv[1], cleanup_mode=None).get_uri())' "$pg_dir")
  echo "# PostgreSQL (pgserver): $pg_url"
fi

pg_cpu() {  # CPU seconds of our PostgreSQL: the postmaster, its live children and reaped ones
  local pidfile postmaster total pid
  pidfile=$(find "$pg_dir" -name postmaster.pid 2>/dev/null | head -1)
  [[ -n "$pidfile" ]] || { echo 0; return; }
  postmaster=$(head -1 "$pidfile")
  # fields 14-17 of /proc/PID/stat: utime, stime, and the CPU of reaped children
  total=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13 + $14 + $15) / hz }' "/proc/$postmaster/stat")
  for pid in $(pgrep -P "$postmaster" || true); do
    total=$(awk -v t="$total" -v c="$(cpu_s "$pid" 2>/dev/null || echo 0)" 'BEGIN { printf "%.2f", t + c }')
  done
  echo "$total"
}

# The zero-latency fake OpenAI-compatible server, shared by the set-ups that use it.
fake_base=""
fake_key=""
if [[ "$setups" =~ [bcd] ]]; then
  fake_port=$(free_port)
  PYTHONPATH="$root" "$py" "$here/fake_llm_server.py" --port "$fake_port" \
    >"$out_dir/fake.out" 2>"$out_dir/fake.err" &
  fake_pid=$!
  for _ in $(seq 1 300); do
    if [[ -s "$out_dir/fake.out" ]]; then break; fi
    if ! kill -0 "$fake_pid" 2>/dev/null; then cat "$out_dir/fake.err" >&2; exit 1; fi
    sleep 0.1
  done
  read -r fake_base fake_key <"$out_dir/fake.out"
  echo "# fake OpenAI-compatible server: $fake_base (PID $fake_pid, zero latency)"
fi

run_setup() {
  local setup=$1
  local -a env_vars=("GRAPHMILL_DATA_DIR=$work/data-$setup" "LOG_LEVEL=WARNING")
  if [[ -n "$pg_url" ]]; then
    local database="tts_${setup}_$RANDOM"
    "$py" -W ignore -c 'import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode=None).psql(f"CREATE DATABASE {sys.argv[2]};")' "$pg_dir" "$database" >/dev/null
    env_vars+=("GRAPHMILL_DATABASE_URL=$("$py" -c 'import sys; b, _, q = sys.argv[1].partition("?"); print(b.rsplit("/", 1)[0] + "/" + sys.argv[2] + "?" + q)' "$pg_url" "$database")")
  fi
  case $setup in
    a) ;;
    b) env_vars+=("LLM_ENDPOINT=$fake_base" "LLM_API_KEY=$fake_key" "LLM_MODEL=openai/fake") ;;
    c | d)
      if [[ $setup == c ]]; then
        env_vars+=("LLM_ENDPOINT=$fake_base" "LLM_API_KEY=$fake_key" "LLM_MODEL=openai/fake")
      fi
      env_vars+=(
        "EMBEDDING_PROVIDER=openai_compatible" "EMBEDDING_MODEL=fake"
        "EMBEDDING_ENDPOINT=$fake_base" "EMBEDDING_API_KEY=$fake_key" "EMBEDDING_DIMENSIONS=384"
      )
      ;;
    *) echo "unknown set-up $setup" >&2; return 1 ;;
  esac
  local port base start
  port=$(free_port)
  base="http://127.0.0.1:$port"
  mkdir -p "$work/data-$setup"
  echo
  echo "######## set-up $setup"
  echo "\$ env ${env_vars[*]} $graphmill serve --port $port"
  start=$("$py" -c 'import time; print(time.time())')
  env "${env_vars[@]}" "$graphmill" serve --port "$port" >"$out_dir/server-$setup.log" 2>&1 &
  server_pid=$!
  "$py" - "$base" "$start" <<'EOF'
import sys, time, httpx
base, start = sys.argv[1], float(sys.argv[2])
deadline = time.time() + 120
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
  echo "# server PID $server_pid, RSS after start-up: $(awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$server_pid/status")"
  echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  local fake_cpu_before="" pg_cpu_before
  if [[ -n "$fake_pid" ]]; then fake_cpu_before=$(cpu_s "$fake_pid"); fi
  pg_cpu_before=$(pg_cpu)
  local -a cmd=(
    "$here/time_to_searchable.py" --base-url "$base" --pid "$server_pid" --docs "$docs"
    --batch "$batch" --label "($setup)"
    --json "$out_dir/result-$setup.json" --keep
  )
  if [[ -z "$pg_url" ]]; then cmd+=(--sqlite-db "$work/data-$setup/graphmill.db"); fi
  echo "\$ python ${cmd[*]#"$root/"} ${BENCH_ARGS:-}"
  local spy_pid=""
  if [[ -n "${PYSPY:-}" ]]; then
    mkdir -p "$PYSPY"
    "$(dirname "$py")/py-spy" record --pid "$server_pid" --gil --rate 200 --format raw \
      --output "$PYSPY/profile-$setup.txt" >/dev/null 2>&1 &
    spy_pid=$!
  fi
  # shellcheck disable=SC2086
  "$py" "${cmd[@]}" ${BENCH_ARGS:-}
  if [[ -n "$spy_pid" ]]; then kill -INT "$spy_pid"; wait "$spy_pid" 2>/dev/null || true; fi
  echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [[ -n "$fake_pid" ]]; then
    echo "# CPU of the fake server during this set-up (shares the cores): $(awk -v a="$fake_cpu_before" -v b="$(cpu_s "$fake_pid")" 'BEGIN { printf "%.2f s", b - a }')"
  fi
  if [[ -n "$pg_url" ]]; then
    echo "# CPU of the PostgreSQL processes during this set-up: $(awk -v a="$pg_cpu_before" -v b="$(pg_cpu)" 'BEGIN { printf "%.2f s", b - a }')"
  fi
  echo "# data folder size: $(du -sh "$work/data-$setup" | cut -f1)"
  stop "$server_pid"
  server_pid=""
  rm -rf "$work/data-$setup"
}

for setup in $setups; do
  run_setup "$setup"
done
