#!/usr/bin/env bash
# Scaling sweep: the same small MoE (configs/tiny_moe.pbtxt) on 1, 2, 4
# ranks, data parallel (ep 1) and expert parallel (ep = ranks), strong
# (fixed global batch) and weak (global batch proportional to ranks)
# scaling, with moe-bench step's per-phase breakdown; then moe-bench
# alltoall (ours against raw MPI_Alltoallv). Writes docs/scaling/sweep.csv,
# alltoall.csv, summary.txt and scaling.png (gnuplot).
#
#   scripts/scaling-sweep.sh [--build-dir DIR] [--out DIR] [--steps N] [--ranks "1 2 4"]
#
# Environment: MPIRUN (default "mpirun"), MPIRUN_ARGS (extra launcher flags;
# by default --oversubscribe for runs with more ranks than cores),
# THREADS (CPU threads per rank, default 1: one rank = one "device").
# On GPU nodes the same command runs; pass the launcher flags you need.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build-bench"
OUT="$ROOT/docs/scaling"
STEPS=20
WARMUP=3
RANKS="1 2 4"
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --ranks) RANKS="$2"; shift 2 ;;
    *) echo "scaling-sweep: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

BENCH="$BUILD/launch/moe-bench"
if [ ! -x "$BENCH" ]; then
  echo "scaling-sweep: building moe-bench in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$BUILD" moe-bench
fi
DATA="$ROOT/data/tinyshakespeare_byte.h5"
if [ ! -f "$DATA" ]; then
  ninja -C "$BUILD" moe-prep
  "$BUILD/launch/moe-prep" --input "$ROOT/data/corpus/tinyshakespeare.txt" --output "$DATA"
fi

THREADS="${THREADS:-1}"
MPIRUN="${MPIRUN:-mpirun}"
CORES="$(nproc)"
if [ -z "${MPIRUN_ARGS+x}" ]; then
  MPIRUN_ARGS="--oversubscribe --mca mpi_yield_when_idle 1"
  [ "$(id -u)" -eq 0 ] && MPIRUN_ARGS="$MPIRUN_ARGS --allow-run-as-root"
fi
export OMP_NUM_THREADS="$THREADS"

# The model: configs/tiny_moe.pbtxt (4 layers, d 128, 8 routed experts top-3
# + 1 shared, 4 groups); per-rank batch 16 x 64 tokens at 1 rank.
BASE_BATCH=16
COMMON=(--config "$ROOT/configs/tiny_moe.pbtxt" --set "data.path=$DATA" --set threads="$THREADS"
        --set run_dir="${TMPDIR:-/tmp}/moe-scaling-sweep" --steps "$STEPS" --warmup "$WARMUP")

mkdir -p "$OUT"
CSV="$OUT/sweep.csv"
A2A="$OUT/alltoall.csv"
rm -f "$CSV" "$A2A"
cd "$ROOT"
# Other work on the machine skews every number: the load is kept with them.
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

launch() {  # ranks, then the command
  local n="$1"; shift
  if [ "$n" -eq 1 ]; then "$@"; else $MPIRUN -np "$n" $MPIRUN_ARGS -x OMP_NUM_THREADS "$@"; fi
}

for n in $RANKS; do
  for mode in strong weak; do
    batch=$BASE_BATCH
    [ "$mode" = weak ] && batch=$((BASE_BATCH * n))
    eps="1"
    [ "$n" -gt 1 ] && eps="1 $n"
    for ep in $eps; do
      note=""
      [ "$n" -gt "$CORES" ] && note=" (oversubscribed: $n ranks on $CORES cores)"
      echo "== $n ranks, ep $ep, $mode scaling, global batch $batch$note"
      launch "$n" "$BENCH" step "${COMMON[@]}" --set global_batch_size="$batch" --set parallel.ep="$ep" \
        --mode "$mode" --csv "$CSV"
    done
  done
done

# All-to-all: the dispatch size of the weak runs (16 sequences x 64 tokens
# x top-3 rows of d 128 per rank) and a 16x larger one, even and uneven.
for n in $RANKS; do
  [ "$n" -gt 1 ] || continue
  for rows in 3072 49152; do
    for imb in "" --imbalanced; do
      launch "$n" "$BENCH" alltoall --rows "$rows" --dim 128 --repeats 30 $imb --csv "$A2A"
    done
  done
done

# The wait loop: rank 0 enters 2 ms late (a rank still computing), once.
for n in $RANKS; do
  [ "$n" -eq 2 ] && launch 2 "$BENCH" alltoall --rows 3072 --dim 128 --repeats 30 --skew-us 2000 --csv "$A2A"
done

# Weak-scaling efficiency at each rank count n > 1: tokens/s per rank at n
# over tokens/s per rank at 1 rank (DP: ep 1; EP: ep = ranks).
awk -F, '
  NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
  $c["mode"] == "weak" && $c["ranks"] == 1 { base = $c["tokens_per_s_per_rank"] }
  $c["mode"] == "weak" && $c["ranks"] > 1 { key[++n] = sprintf("%d ranks, %s", $c["ranks"], $c["ep"] > 1 ? "EP" : "DP")
                                            tps[n] = $c["tokens_per_s_per_rank"] }
  END {
    if (base == "") exit
    for (i = 1; i <= n; ++i) printf "weak-scaling efficiency at %s: %.3f\n", key[i], tps[i] / base
  }' "$CSV" | tee "$OUT/summary.txt"
awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
  { printf "alltoall %d ranks, %s, %d rows x %d, rank 0 late by %d us: ours/raw %.3f (with count exchange %.3f)\n",
           $c["ranks"], $c["mode"], $c["rows"], $c["dim"], $c["skew_us"], $c["ratio"], $c["ratio_with_counts"] }' "$A2A" |
  tee -a "$OUT/summary.txt"
echo "$CORES cores; load average (1/5/15 min) at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)" |
  tee -a "$OUT/summary.txt"

if command -v gnuplot >/dev/null; then
  gnuplot -e "csv='$CSV'; png='$OUT/scaling.png'" "$ROOT/scripts/plot-scaling.gp"
  echo "scaling-sweep: wrote $OUT/scaling.png"
else
  echo "scaling-sweep: gnuplot not found (apt-get install gnuplot-nox): no plot" >&2
fi
echo "scaling-sweep: wrote $CSV, $A2A, $OUT/summary.txt"
