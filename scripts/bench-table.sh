#!/usr/bin/env bash
# The issue-7 benchmark table for ckpool-ts, measured with ckpool-bench (BENCHMARKS.md,
# "ckpool-bench (issue 7)").
#
#   scripts/bench-table.sh [--runs N] [--quick] [--out DIR] [--only SCENARIO,...]
#                          [--workers LIST] [--no-pin]
#
# - the pool (scripts/bench-pool.ts: the library Pool with the flood limits lifted) runs
#   pinned to CPU 0; ckpool-bench and its template source (a fake node, benchmarks only)
#   are pinned to CPU 1 (taskset; without taskset nothing is pinned and the table says so);
# - each scenario runs --runs times (default 3) against a freshly started pool and the
#   table gives the median; every raw JSON summary is kept in DIR/results.jsonl;
# - the open-file limit is raised to the hard limit first: 10,000 clients need more
#   than the usual 1024 descriptors in both the pool and the generator.
#
# --workers 0,1,2 runs every scenario once per pool worker-thread count (default 0: miners
# on the main thread); results are tagged SCENARIO@wN for N > 0. --no-pin pins nothing:
# the pool, ckpool-bench and the template source share every core (the multi-core
# scaling runs; summarise them with scripts/bench-scaling-summary.mjs).
#
# Scenarios: tp0 (0 txs, 10 conns × pipeline 16), tp4000 (4000 txs, 10 × 16),
# tp4000c1000 (4000 txs, 1000 × 1), mem1000 / mem10000 (idle clients: RSS per client,
# connect storm all at once), bc1000 / bc10000 (ZMQ block change → clean notify,
# 4000-tx template, 3 block changes per run).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=3
DURATION=10
WARMUP=2
OUT=""
ONLY=""
WORKERS="0"
NOPIN=false
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --quick) RUNS=1; DURATION=3; WARMUP=1; shift ;;
    --out) OUT="$2"; shift 2 ;;
    --only) ONLY=",$2,"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --no-pin) NOPIN=true; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "bench-table: unknown option $1" >&2; exit 2 ;;
  esac
done
OUT="${OUT:-$(mktemp -d /tmp/ckpool-bench-table.XXXXXX)}"
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"
: > "$RESULTS"

# --- descriptors: the soft limit up to the hard one
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ]; then ulimit -n 1048576 2>/dev/null || ulimit -n 65536; else ulimit -n "$hard"; fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 10500 ]; then
  echo "bench-table: open-file limit is $(ulimit -n); 10,000-client scenarios need about 10,100 per process (raise the hard limit: ulimit -Hn / limits.conf)" >&2
fi

# --- pinning
POOL_PIN=()
BENCH_PIN=()
PINNED=false
if [ "$NOPIN" = false ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  POOL_PIN=(taskset -c 0)
  BENCH_PIN=(taskset -c 1)
  PINNED=true
fi

NODE="${NODE:-node}"
SOURCE_PID=""
POOL_PID=""

cleanup() {
  [ -n "$POOL_PID" ] && kill -TERM "$POOL_PID" 2>/dev/null && wait "$POOL_PID" 2>/dev/null || true
  [ -n "$SOURCE_PID" ] && kill -TERM "$SOURCE_PID" 2>/dev/null && wait "$SOURCE_PID" 2>/dev/null || true
  POOL_PID=""
  SOURCE_PID=""
}
trap cleanup EXIT
trap "exit 130" INT TERM

# wait for the first line of $1 (a JSON object) and print field $2
field() {
  local file="$1" key="$2" i
  for i in $(seq 1 600); do
    if [ -s "$file" ] && head -1 "$file" | grep -q '}'; then
      head -1 "$file" | "$NODE" -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s)[process.argv[1]];process.stdout.write(String(v))})' "$key"
      return 0
    fi
    sleep 0.1
  done
  echo "bench-table: no start-up line in $file" >&2
  cat "$file" "$file.err" >&2 || true
  return 1
}

# start_stack TXS: template source (CPU 1) + pool (CPU 0); sets RPC, ZMQ, PORT, PID
start_stack() {
  local txs="$1"
  cleanup
  "${BENCH_PIN[@]}" "$NODE" bin/ckpool-bench.js template-source --txs "$txs" --port 0 --zmq 0 > "$OUT/source.out" 2> "$OUT/source.out.err" &
  SOURCE_PID=$!
  RPC=$(field "$OUT/source.out" rpc)
  ZMQ=$(field "$OUT/source.out" zmq)
  # --max-semi-space-size=1: the V8 flag the ckpool binary runs with (bin/ckpool.js)
  "${POOL_PIN[@]}" "$NODE" --max-semi-space-size=1 --import=tsx scripts/bench-pool.ts --rpc "$RPC" --zmq "$ZMQ" --workers "$W" > "$OUT/pool.out" 2> "$OUT/pool.out.err" &
  POOL_PID=$!
  PORT=$(field "$OUT/pool.out" port)
  PID=$(field "$OUT/pool.out" pid)
  sleep 1
}

# bench NAME ARGS…: one ckpool-bench run on CPU 1, its JSON summary tagged with NAME
bench() {
  local name="$1"; shift
  local line
  [ "$W" = 0 ] || name="$name@w$W"
  wait_quiet
  line=$("${BENCH_PIN[@]}" "$NODE" bin/ckpool-bench.js "$@" -p "$PORT" --pid "$PID" --json -q | tail -1) || true
  case "$line" in
    '{'*) echo "{\"scenario\":\"$name\",\"result\":$line}" >> "$RESULTS"
          echo "  $name: $line" | cut -c1-240 >&2 ;;
    *) echo "  $name: FAILED (see the message above)" >&2 ;;
  esac
}

# busy % of the whole machine (all CPUs, 100 = one core) over one second
machine_busy() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local busy=$(( (b[1]+b[2]+b[3]+b[6]+b[7]) - (a[1]+a[2]+a[3]+a[6]+a[7]) ))
  local hz; hz=$(getconf CLK_TCK 2>/dev/null || echo 100)
  echo $(( busy * 100 / hz ))
}

# wait (up to QUIET_WAIT s) until other processes leave the machine nearly idle: the
# 2 cores are shared, and a compile or a test suite next to the benchmark halves it
QUIET_WAIT="${QUIET_WAIT:-300}"
wait_quiet() {
  [ -r /proc/stat ] || return 0
  local waited=0 busy
  while busy=$(machine_busy); [ "$busy" -gt 15 ]; do
    if [ "$waited" -ge "$QUIET_WAIT" ]; then
      echo "bench-table: machine still ${busy}% busy after ${waited}s; measuring anyway (see machine.othersPct)" >&2
      return 0
    fi
    [ "$waited" -eq 0 ] && echo "bench-table: machine ${busy}% busy with other processes; waiting for quiet…" >&2
    sleep 4
    waited=$((waited + 5))
  done
}

want() { [ -z "$ONLY" ] || [[ "$ONLY" == *",$1,"* ]]; }

echo "bench-table: results in $RESULTS (pinned: $PINNED, runs: $RUNS, pool workers: $WORKERS)" >&2
for run in $(seq 1 "$RUNS"); do
  echo "bench-table: run $run of $RUNS" >&2
  for W in ${WORKERS//,/ }; do
    if want tp0; then
      start_stack 0
      bench tp0 throughput -c 10 -P 16 -d "$DURATION" -w "$WARMUP"
    fi
    if want tp4000 || want tp4000c1000; then
      start_stack 4000
      want tp4000 && bench tp4000 throughput -c 10 -P 16 -d "$DURATION" -w "$WARMUP"
      want tp4000c1000 && bench tp4000c1000 throughput -c 1000 -P 1 -d "$DURATION" -w "$WARMUP"
    fi
    if want mem1000; then
      start_stack 4000
      bench mem1000 connect -c 1000
    fi
    if want mem10000; then
      start_stack 4000
      bench mem10000 connect -c 10000
    fi
    if want bc1000; then
      start_stack 4000
      bench bc1000 broadcast -c 1000 --rpc "bench:bench@$RPC" --rounds 3
    fi
    if want bc10000; then
      start_stack 4000
      bench bc10000 broadcast -c 10000 --rpc "bench:bench@$RPC" --rounds 3
    fi
  done
done
cleanup

if [ "$PINNED" = true ]; then "$NODE" scripts/bench-summary.mjs "$RESULTS"; else "$NODE" scripts/bench-summary.mjs --not-pinned "$RESULTS"; fi
