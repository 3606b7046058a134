#!/usr/bin/env bash
# The GPU checks as one staged command for a GPU machine that may be lent for ten minutes, once.
#
#   gpu/run-checks.sh build     here (Rust, no CUDA): release binaries, stripped, checked, in gpu/dist/
#   gpu/run-checks.sh           there (no Rust): every stage under its own timeout, results after each
#   gpu/run-checks.sh dry-run   here: the run mode on the no-device path, with the checks of the runner
#
# build: the GPU test binary and hercules, stripped into gpu/dist/ (git-ignored, about 12 MB:
# carry it), with MANIFEST (sizes, sha256, the newest glibc symbol each needs, the commit).
# It fails when a file is not executable, links a CUDA library at load time (everything CUDA is
# dlopened), or the folder is over DIST_MAX_MIB (48).
#
# run, in this order, each stage's log in $OUT_DIR (default results/gpu/run):
#   stage       what (every one through the hercules binary but tests/torch)   estimate  timeout
#   versions    roofline --device cuda --versions: driver, NVRTC, cuBLAS         1 s      30 s
#   tests       every GPU test (each compares with the CPU kernels/models)      15 s     180 s
#   ceilings    roofline --device cuda: copy, gather, FP32/TF32/BF16 GEMM        2 s      60 s
#   embedding   kernels --op embedding fp32/fp16/int8, D=128 L=80, --power      15 s      75 s
#   torch       torch.nn.EmbeddingBag on the same shapes (python3 with torch)   25 s      90 s
#   embedding2  ours again (fp32), so torch sits between two of our runs         4 s      45 s
#   mlp         kernels --op mlp: cuBLAS layers + fused bias/activation          4 s      60 s
#   models      kernels --op model: rmc1, rmc3, wnd, dien, din, ncf, mt-wnd    60 s     210 s
#   infer       infer --device cuda (eager, graphs, TF32, BF16, unfused), CPU  20 s      90 s
#   lane        profile of dlrm-rmc3, wnd with the GPU offload                 175 s     240 s
# The estimates are what the same work took on the H200 of 2026-12-04 (results/gpu/, run 2: 286 s in
# all) plus about 2 s for the ceilings each kernels stage measures first and 2.5 s per --power shape.
# A stage whose timeout would pass DEADLINE (seconds from the start, default 540) gets what is
# left, or is not run. After every stage, summary.txt/summary.json are rewritten (atomically) and,
# with PACK=file.tgz, the whole folder is packed there: a run killed at any point keeps what it did.
# ONLY="stage ..." runs those stages alone (the summary then expects only them).
# The summary FAILS when any stage failed, timed out, was skipped or was not run;
# HERCULES_GPU_REQUIRED=1 (the default here) makes a GPU test panic instead of printing "skipped".
#
# Libraries: libcuda comes with the driver. NVRTC and cuBLAS must be of the driver's CUDA major (a
# CUDA 13 cuBLAS fails at handle creation on a 12.x driver): the newest of that major is taken from
# the CUDA toolkit or python3's nvidia-* wheels, else installed from wheels in $WHEELS (offline), and
# linked under stable names; without one the GPU stages fail, saying so. Knobs: OUT_DIR, DEADLINE,
# PACK, ROWS_SCALE (models, 1), TABLE_GIB (4, whole GiB), LANE_MODELS ("dlrm-rmc3 wnd"), LANE_ROWS_SCALE (0.25),
# LANE_SECONDS (90 per model), GPU_THRESHOLDS (1,32,128), GPU_STREAMS (1,4), T_<STAGE> (a timeout).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dist=${DIST:-$root/gpu/dist}
mode=${1:-run}

if [ "$mode" = "build" ]; then
  set -e
  cd "$root"
  jobs=${CARGO_BUILD_JOBS:-2}
  exe=$(cargo test -j "$jobs" -p hercules-gpu --release --no-run --locked 2>&1 \
        | sed -n 's/.*Executable unittests src\/lib.rs (\(.*\)).*/\1/p' | tail -1)
  [ -n "$exe" ] || { echo "build: could not find the test binary in cargo's output" >&2; exit 1; }
  cargo build -j "$jobs" --locked --release -p hercules
  rm -rf "$dist" && mkdir -p "$dist"
  cp "$exe" "$dist/hercules_gpu_tests"
  cp target/release/hercules "$dist/"
  : > "$dist/MANIFEST"
  for f in "$dist"/hercules_gpu_tests "$dist"/hercules; do
    strip --strip-debug "$f"
    [ -x "$f" ] || { echo "build: $f is not executable" >&2; exit 1; }
    if ldd "$f" | grep -Eq 'lib(cuda|nvrtc|cublas|nvidia-ml)'; then
      echo "build: $f links a CUDA library at load time; the GPU path must dlopen them" >&2; exit 1
    fi
    glibc=$(objdump -T "$f" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
    printf '%s %s bytes sha256:%s needs %s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
      "$(sha256sum "$f" | cut -c1-16)" "$glibc" >> "$dist/MANIFEST"
  done
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes'), built $(date -u +%FT%TZ) on $(ldd --version | head -1)" >> "$dist/MANIFEST"
  mib=$(( $(du -sb "$dist" | cut -f1) >> 20 ))
  cat "$dist/MANIFEST"
  echo "gpu/dist: $mib MiB (carry it: the device's working-tree limit is 64 MiB)"
  [ "$mib" -le "${DIST_MAX_MIB:-48}" ] || { echo "build: gpu/dist is $mib MiB, over ${DIST_MAX_MIB:-48}" >&2; exit 1; }
  exit 0
fi

[ "$mode" = "run" ] || [ "$mode" = "dry-run" ] || { echo "usage: gpu/run-checks.sh [build|run|dry-run]" >&2; exit 2; }
out=${OUT_DIR:-$root/results/gpu/run}
mkdir -p "$out"
start=$(date +%s)
deadline=${DEADLINE:-540}
export HERCULES_GPU_REQUIRED=${HERCULES_GPU_REQUIRED:-1}
py=$(command -v python3 || true)
: > "$out/stages.tsv"
all="versions tests ceilings embedding torch embedding2 mlp models infer lane"
plan=${ONLY:-$all}
[ "$mode" = "dry-run" ] && plan="timeout-probe $plan"
echo "$plan" | tr ' ' '\n' | grep -v '^$' > "$out/plan.txt"
for b in hercules_gpu_tests hercules; do
  [ -x "$dist/$b" ] || { echo "missing $dist/$b: run 'gpu/run-checks.sh build' on a machine with Rust, and carry gpu/dist" | tee "$out/summary.txt"; exit 1; }
done

summarise() {
  [ -n "$py" ] || { cp "$out/stages.tsv" "$out/summary.txt"; return; }
  "$py" "$root/gpu/run-summary.py" "$out" > "$out/summary.txt.tmp" && mv "$out/summary.txt.tmp" "$out/summary.txt"
  if [ -n "${PACK:-}" ]; then
    tar czf "$PACK.tmp" -C "$(dirname "$out")" "$(basename "$out")" && mv "$PACK.tmp" "$PACK"
    cp "$out/summary.txt" "$(dirname "$PACK")/summary.txt"
  fi
}

# stage NAME TIMEOUT CMD...: runs CMD under the timeout (cut to what DEADLINE leaves), logs it to
# NAME.log and records one line "name status rc seconds" in stages.tsv; status is ok, failed,
# timeout, skipped (exit 3 or a "skipped:" line) or not-run.
stage() {
  local name=$1 limit=$2; shift 2
  case " $plan " in *" $name "*) ;; *) return ;; esac
  local var="T_$(echo "$name" | tr 'a-z-' 'A-Z_')"
  limit=${!var:-$limit}
  local left=$(( deadline - ($(date +%s) - start) - 5 ))
  if [ "$left" -lt 5 ]; then
    printf '%s\tnot-run\t-\t0\n' "$name" >> "$out/stages.tsv"; echo "== $name: not run, the deadline is near =="; summarise; return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  echo "== $name (timeout ${limit}s) ==" | tee "$out/$name.log"
  local t0; t0=$(date +%s%N)
  timeout --kill-after=5 "$limit" "$@" 2>&1 | tee -a "$out/$name.log"
  local rc=${PIPESTATUS[0]} status=ok
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  local secs; secs=$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout
  elif [ "$rc" != 0 ] && [ "$rc" != 3 ]; then status=failed
  elif [ "$rc" = 3 ] || grep -q '^skipped:' "$out/$name.log"; then status=skipped; fi
  printf '%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$secs" >> "$out/stages.tsv"
  echo "-- $name: $status (rc $rc, ${secs}s)"
  summarise
}

# NVRTC and cuBLAS of the driver's CUDA major, linked under stable names in a temp dir.
libdir=$(mktemp -d)
trap 'rm -rf "$libdir"' EXIT
{
  echo "host: $(uname -srm); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  # What this process's libcuda says (read before any other library is loaded), else nvidia-smi.
  drv_cuda=$("$dist/hercules" roofline --device cuda --versions 2>/dev/null | sed -n 's/.*"driver_cuda": "\([0-9.]*\)".*/\1/p')
  [ -n "$drv_cuda" ] || drv_cuda=$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | grep -o '[0-9.]*$')
  echo "driver CUDA: ${drv_cuda:-unknown}"
  major=${drv_cuda%%.*}
  search=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu)
  for d in /usr/local/cuda-*/lib64; do [ -d "$d" ] && search+=("$d"); done
  sitedirs() { "$py" -c 'import site,glob,os
for r in site.getsitepackages()+[site.getusersitepackages()]+os.environ.get("EXTRA_SITE","").split(":"):
    [print(d) for d in sorted(glob.glob(os.path.join(r,"nvidia","**","lib"),recursive=True))]' 2>/dev/null; }
  [ -n "$py" ] && while IFS= read -r d; do search+=("$d"); done < <(sitedirs)
  pick() {  # the newest lib$1.so.$major* in the search path
    local f
    for d in "${search[@]}"; do
      f=$(ls "$d"/lib"$1".so."${major:-x}"* 2>/dev/null | grep -E "lib$1\.so\.[0-9.]+$" | sort -V | tail -1)
      [ -n "$f" ] && { echo "$f"; return; }
    done
  }
  if [ -n "$major" ] && { [ -z "$(pick nvrtc)" ] || [ -z "$(pick cublas)" ]; } && [ -n "${WHEELS:-}" ] && [ -n "$py" ]; then
    echo "no CUDA $major NVRTC/cuBLAS found: installing the wheels in $WHEELS"
    "$py" -m pip install -q --no-index --no-deps --target "$libdir/site" "$WHEELS"/*.whl 2>&1 | tail -3
    while IFS= read -r d; do search+=("$d"); done < <(find "$libdir/site/nvidia" -type d -name lib 2>/dev/null)
  fi
  for lib in nvrtc cublas cublasLt; do
    f=$(pick $lib)
    if [ -n "$f" ]; then ln -sf "$f" "$libdir/lib$lib.so"; echo "lib$lib: $f"; else echo "lib$lib: none of CUDA ${major:-?} found"; fi
  done
} 2>&1 | tee "$out/libs.log"
extra=$(sed -n 's/^lib[a-zA-Z]*: \(\/.*\)\/[^/]*$/\1/p' "$out/libs.log" | sort -u | tr '\n' ':')
export LD_LIBRARY_PATH="$libdir:${extra}${LD_LIBRARY_PATH:-}"

rows_scale=${ROWS_SCALE:-1}
lane_scale=${LANE_ROWS_SCALE:-0.25}
tgib=${TABLE_GIB:-4}
emb=(--dim 128 --lookups 80 --batch 2048)
kern=("$dist/hercules" kernels --device cuda --repeats 10)
if [ "$mode" = "dry-run" ]; then
  # The stage runner's own checks, here: a stage past its timeout is recorded as such.
  stage timeout-probe 2 sleep 30
fi
stage versions 30 "$dist/hercules" roofline --device cuda --versions
stage tests 180 "$dist/hercules_gpu_tests" --test-threads=2 --nocapture
stage ceilings 60 "$dist/hercules" roofline --device cuda --repeats 10 --json "$out/ceilings.json"
stage embedding 75 "${kern[@]}" --op embedding --table-mib $((tgib * 1024)) "${emb[@]}" --dtype fp32 --dtype fp16 --dtype int8 --power --json "$out/embedding.json"
stage torch 90 "${py:-python3}" "$root/gpu/peers/torch_embedding_bag.py" --table-gib "$tgib" "${emb[@]}" --json "$out/torch.json"
stage embedding2 45 "${kern[@]}" --op embedding --table-mib $((tgib * 1024)) "${emb[@]}" --json "$out/embedding2.json"
stage mlp 60 "${kern[@]}" --op mlp --json "$out/mlp.json"
# The CPU side gets every core but the one driving the GPU.
infer_stage() {  # hercules infer --device cuda: eager, graphs, TF32, BF16, without the epilogue; CPU
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --device cuda --batch 64 --seconds 2 --json "$out/infer-rmc3-b64.json" &&
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --device cuda --batch 64 --seconds 2 --cuda-graphs --json "$out/infer-rmc3-b64-graphs.json" &&
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --device cuda --batch 1024 --seconds 2 --json "$out/infer-rmc3-b1024.json" &&
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --device cuda --batch 1024 --seconds 2 --tf32 --json "$out/infer-rmc3-b1024-tf32.json" &&
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --device cuda --batch 1024 --seconds 2 --bf16 --json "$out/infer-rmc3-b1024-bf16.json" &&
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --device cuda --batch 64 --seconds 2 --unfused --json "$out/infer-rmc3-b64-unfused.json" &&
  "$dist/hercules" infer --model dlrm-rmc3 --rows-scale "$rows_scale" --threads "$(nproc)" --batch 1024 --seconds 2 --json "$out/infer-rmc3-b1024-cpu.json"
}
stage models 210 "${kern[@]}" --op model --rows-scale "$rows_scale" --json "$out/models.json"
export -f infer_stage && export dist rows_scale out
stage infer 90 bash -c infer_stage
lane=()
for m in ${LANE_MODELS:-dlrm-rmc3 wnd}; do lane+=(--model "$m"); done
stage lane 240 "$dist/hercules" profile "${lane[@]}" --rows-scale "$lane_scale" \
  --gpu-thresholds "${GPU_THRESHOLDS:-1,32,128}" --gpu-streams "${GPU_STREAMS:-1,4}" --sub-batches 64,256 \
  --budget 10 --time-budget "${LANE_SECONDS:-90}s" \
  --trial-duration 2s --min-duration 500ms --min-queries 200 --no-ceilings --fresh \
  --out "$out/profile" --json "$out/profile.json"
cat "$out/summary.txt"
grep -q '^overall: PASS' "$out/summary.txt"
