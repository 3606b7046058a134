#!/usr/bin/env bash
# The GPU checks of issue 6 in one command, for a machine with a GPU and no Rust toolchain.
#
# 1. Build the binaries here (any machine with Rust; no CUDA needed):
#        gpu/run-checks.sh build
#    which runs
#        cargo test  -p hercules-gpu --release --no-run        # test binary: target/release/deps/hercules_gpu-<hash>
#        cargo build -p hercules-gpu --release --example gpu_bench   # bench: target/release/examples/gpu_bench
#    and copies both, debug info stripped, to gpu/dist/ (git-ignored; about 10-20 MB in all).
# 2. On the GPU machine, from the repository root, with gpu/dist/ carried along:
#        gpu/run-checks.sh                 # or: OUT=/some/dir gpu/run-checks.sh [--quick]
#    It runs the test binary (every GPU test compares against the CPU kernels; the whole-model test runs
#    all ten zoo models, eagerly and through CUDA graphs), the bench (ceilings, embedding bag fp32
#    D=128 L=80 over $TABLE_GIB GiB of tables, MLP shapes, whole models vs CPU with --models: rmc1,
#    rmc3, wnd, dien, din, ncf, mt-wnd, each with CUDA graphs off and on for batches <= 256), and
#    torch.nn.EmbeddingBag on CUDA on the same shapes, then prints the two checks: row GB/s >= 70% of
#    device copy bandwidth, and >= 1.5x PyTorch's best, and per model the GPU/CPU crossover batch and
#    the graph speedups at small batches. MODELS_EXTRA (e.g. "--model mlperf-dlrm-v2") adds models;
#    ROWS_SCALE (default 1) scales every model's tables.
#    Everything goes to $OUT (default results/gpu/): tests.log, bench.log, bench.json, torch.log,
#    torch.json, summary.txt.
# 3. The offline stage with the GPU lane (a second device call; about 5 minutes per model):
#        gpu/run-checks.sh profile         # PROFILE_MODELS="dlrm-rmc3 wnd", ROWS_SCALE=0.25, BUDGET=6, TIME_BUDGET=4m
#    runs `hercules profile` with the offload threshold and GPU stream count in the search and writes the
#    efficiency tables (server type <cpu>-<cores>c-<gpu>) under $OUT/profile/.
#
# CUDA libraries: libcuda comes with the driver; NVRTC and cuBLAS are taken from the CUDA toolkit if on
# the library path, else from PyTorch's nvidia-* wheels (found through python3), linked under a temp dir
# as libnvrtc.so / libcublas.so so that any CUDA 12 or 13 version loads.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist="$root/gpu/dist"

if [ "${1:-}" = "build" ]; then
  set -e
  cd "$root"
  exe=$(CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo test -p hercules-gpu --release --no-run 2>&1 \
        | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\)).*/\1/p' | tail -1)
  [ -n "$exe" ] || { echo "could not find the test binary in cargo's output" >&2; exit 1; }
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -p hercules-gpu --release --example gpu_bench
  CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -p hercules --release
  mkdir -p "$dist"
  cp "$exe" "$dist/hercules_gpu_tests"
  cp target/release/examples/gpu_bench "$dist/gpu_bench"
  cp target/release/hercules "$dist/hercules"
  for f in "$dist/hercules_gpu_tests" "$dist/gpu_bench" "$dist/hercules"; do objcopy --strip-debug "$f" 2>/dev/null || strip -g "$f" || true; done
  ls -la "$dist"
  exit 0
fi

quick=""
[ "${1:-}" = "--quick" ] && quick="--quick"
out=${OUT:-$root/results/gpu}
mkdir -p "$out"
table_gib=${TABLE_GIB:-4}
for b in hercules_gpu_tests gpu_bench; do
  [ -x "$dist/$b" ] || { echo "missing $dist/$b: run 'gpu/run-checks.sh build' on a machine with Rust" | tee "$out/summary.txt"; exit 1; }
done

# NVRTC and cuBLAS: link whatever versions exist under stable names.
libdir=$(mktemp -d)
py=$(command -v python3 || true)
search=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu)
if [ -n "$py" ]; then
  while IFS= read -r d; do search+=("$d"); done < <("$py" - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for d in glob.glob(os.path.join(r, "nvidia", "**", "lib"), recursive=True):
        print(d)
PY
)
fi
for lib in nvrtc cublas cublasLt; do
  for d in "${search[@]}"; do
    f=$(ls "$d"/lib$lib.so* 2>/dev/null | grep -E "lib$lib\.so(\.[0-9]+)*$" | sort -V | tail -1)
    if [ -n "$f" ]; then
      ln -sf "$f" "$libdir/lib$lib.so"
      echo "lib$lib: $f"
      break
    fi
  done
done | tee "$out/libs.log"
extra=$(sed -n 's/^lib[a-zA-Z]*: \(.*\)\/[^/]*$/\1/p' "$out/libs.log" | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="$libdir:${extra}${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null | tee "$out/nvidia-smi.log"

if [ "${1:-}" = "profile" ]; then
  [ -x "$dist/hercules" ] || { echo "missing $dist/hercules: run 'gpu/run-checks.sh build'" >&2; exit 1; }
  models=()
  for m in ${PROFILE_MODELS:-dlrm-rmc3}; do models+=(--model "$m"); done
  "$dist/hercules" profile "${models[@]}" --rows-scale "${ROWS_SCALE:-0.25}" --search gradient \
    --budget "${BUDGET:-6}" --time-budget "${TIME_BUDGET:-4m}" --out "$out/profile" --json "$out/profile/summary.json" \
    2>&1 | tee "$out/profile.log"
  rc=${PIPESTATUS[0]}
  rm -rf "$libdir"
  exit "$rc"
fi

echo "== tests ==" | tee "$out/tests.log"
"$dist/hercules_gpu_tests" --test-threads=1 --nocapture 2>&1 | tee -a "$out/tests.log"
tests_rc=${PIPESTATUS[0]}

echo "== bench ==" | tee "$out/bench.log"
# shellcheck disable=SC2086 # MODELS_EXTRA is a list of flags
"$dist/gpu_bench" $quick --table-gib "$table_gib" --dim 128 --lookups 80 --batch 2048 --power --models \
  ${MODELS_EXTRA:-} --rows-scale "${ROWS_SCALE:-1}" --json "$out/bench.json" 2>&1 | tee -a "$out/bench.log"
bench_rc=${PIPESTATUS[0]}

echo "== torch.nn.EmbeddingBag ==" | tee "$out/torch.log"
tq=$([ -n "$quick" ] && echo "--table-gib 0.5 --batch 512 --repeats 3" || echo "--table-gib $table_gib --batch 2048")
${py:-python3} "$root/gpu/peers/torch_embedding_bag.py" $tq --dim 128 --lookups 80 --json "$out/torch.json" 2>&1 | tee -a "$out/torch.log"

${py:-python3} - "$out" "$tests_rc" "$bench_rc" <<'PY' | tee "$out/summary.txt"
import json, os, sys
out, tests_rc, bench_rc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
print(f"tests: {'passed' if tests_rc == 0 else 'FAILED (rc %d)' % tests_rc}")
print(f"bench: {'ran' if bench_rc == 0 else 'FAILED (rc %d)' % bench_rc}")
try:
    b = json.load(open(os.path.join(out, "bench.json")))
except Exception as e:
    print(f"no bench.json: {e}"); sys.exit(0)
copy = b["ceilings"]["copy"]["median"]
e = [x for x in b["embedding"] if x["dtype"] == "fp32"][0]
print(f"device copy bandwidth (read+write): {copy:.1f} GB/s; gather ceiling {b['ceilings']['gather']['median']:.1f} GB/s")
print(f"embedding bag fp32 D={e['dim']} L={e['lookups']} B={e['batch']}: {e['gb_per_s_rows']:.1f} GB/s of rows = "
      f"{e['fraction_of_copy_bandwidth']*100:.1f}% of copy bandwidth -> {'PASS' if e['fraction_of_copy_bandwidth'] >= 0.7 else 'FAIL'} (>= 70%)")
try:
    t = json.load(open(os.path.join(out, "torch.json")))
    r = e["gb_per_s_rows"] / t["best_gb_per_s_rows"]
    print(f"torch {t['torch']} EmbeddingBag best {t['best_gb_per_s_rows']:.1f} GB/s -> ratio {r:.2f}x "
          f"{'PASS' if r >= 1.5 else 'FAIL'} (>= 1.5x)")
except Exception as ex:
    print(f"torch comparison unavailable: {ex}")
for m in b.get("models", []):
    sp = ", ".join(f"b{p['batch']} {p['graph_speedup']:.2f}x" for p in m["points"]
                   if p.get("graph_speedup") is not None and p["batch"] <= 16)
    fail = f"; graphs failed: {m['graph_failure']}" if m.get("graph_failure") else ""
    print(f"{m['model']}: GPU faster from batch {m['crossover_batch']}; CUDA graph speedup {sp or 'n/a'}{fail}")
PY
rm -rf "$libdir"
exit $(( tests_rc != 0 || bench_rc != 0 ))
