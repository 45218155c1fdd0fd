#!/usr/bin/env bash
# The CUDA backend's checks on the GPU machine, as one prepared command (docs/cuda-backend.md, "The device run").
#
#   here (no GPU):   bash tools/device-check.sh prepare
#                    -> publishes sageptq with the .NET runtime into .device/ (../shared/device/pack.sh),
#                       quantizes the calibrated sagelm-30m sage pack into .device/packs (about 4 minutes), and
#                       checks that a run sends at most 64 MiB (working tree and .device)
#   there (the run tool, carry [".device"], timeout_s 590):
#                    bash tools/device-check.sh run
#                    -> quantizes three sagelm-7m packs from the tracked model (fp16, sage, rtn 4-bit), then
#                       cuda-check on them (self-test, every linear's kernels against the CPU kernels,
#                       greedy tokens of the golden prompts, perplexity within 0.5 %), then a synthetic
#                       llama2-7b sage pack, rotated as calibrated packs are, made ON the device (1 GB does not
#                       travel), bench --backend cuda on it beside the FP16 stand-in of the same shape, and
#                       bench --profile (each launch of a step timed, by part); then the sagelm-30m sage pack
#                       decoded with CUDA and with the CPU backend. Output and JSON land in $OUT.
#
#   then, if device time is left (timeout_s 300):
#                    bash tools/device-check.sh sweep
#                    -> the synthetic llama2-7b pack again, decoded with 4, 1, 2 and 8 rows a warp on the sage
#                       gemv's fast path side by side (bench --rows-per-warp), beside the FP16 stand-in.
#
# Each step has a timeout guard (560 s in all for run, 275 s for sweep, so each fits its timeout_s); a step that
# fails or times out is reported and the next one still runs. Exit status: 0 when every step passed, else the
# first failure's.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-}

case "$mode" in
prepare)
  set -e
  dotnet build src/Quantizer/SagePtq.Quantizer.csproj -c Release -v quiet -nologo
  if [ -d .git ]; then
    bash ../shared/device/pack.sh src/Quantizer/SagePtq.Quantizer.csproj
  else
    # In a git worktree .git is a file, which pack.sh's exclude step cannot write to: the same steps here.
    mkdir -p .device/app
    if [ ! -f .device/dotnet-runtime.tar.xz ]; then
      dn=$(dirname "$(readlink -f "$(command -v dotnet)")")
      fx=$(ls -d "$dn"/shared/Microsoft.NETCore.App/* | sort -V | tail -1)
      tar -cJf .device/dotnet-runtime.tar.xz -C "$dn" dotnet host/fxr "shared/Microsoft.NETCore.App/$(basename "$fx")"
    fi
    rm -rf .device/app/SagePtq.Quantizer
    dotnet publish src/Quantizer/SagePtq.Quantizer.csproj -c Release -o .device/app/SagePtq.Quantizer --no-self-contained -p:UseAppHost=false -v quiet -nologo
    cp ../shared/device/run.sh .device/run.sh
  fi
  sageptq=(dotnet "$root/.device/app/SagePtq.Quantizer/sageptq.dll")
  rm -rf .device/packs && mkdir -p .device/packs
  # The README's default sagelm-30m pack (calibrated, so rotated; 4-bit embeddings, 6 MB): its model stays in
  # ../shared, which does not travel. The sagelm-7m packs are made on the device from the tracked model.
  "${sageptq[@]}" quantize --model ../shared/models/sagelm-30m --method sage --embeddings 4 --calibration ../shared/data/train.txt \
    --out .device/packs/sagelm-30m-sage
  # What a run sends: the tracked and untracked-not-ignored files, and .device.
  tree=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb 2>/dev/null | awk '$2 == "total" { s += $1 } END { print s + 0 }')
  carried=$(du -sb .device | cut -f1)
  echo "  sends $(( (tree + carried) >> 20 )) MiB: the working tree $(( tree >> 20 )) MiB, .device $(( carried >> 20 )) MiB"
  if [ $((tree + carried)) -gt $((64 << 20)) ]; then echo "error: a run would send more than the 64 MiB it may" >&2; exit 1; fi
  echo "ready: run 'bash tools/device-check.sh run' on the GPU machine with carry [\".device\"]"
  ;;
run|sweep)
  [ -f .device/dotnet-runtime.tar.xz ] || { echo "error: .device is missing: run 'bash tools/device-check.sh prepare' first and carry .device" >&2; exit 2; }
  # One scratch folder per run for the .NET runtime, the kernel cache and the synthetic 7B pack.
  scratch=$(mktemp -d -t sageptq-device.XXXXXX)
  out=${OUT:-$scratch/out}
  mkdir -p "$out" "$scratch/dotnet"
  tar -xJf .device/dotnet-runtime.tar.xz -C "$scratch/dotnet"
  export DOTNET_ROOT="$scratch/dotnet" DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 SAGEPTQ_CUDA_CACHE="$scratch/cuda-cache"
  sageptq=("$scratch/dotnet/dotnet" "$root/.device/app/SagePtq.Quantizer/sageptq.dll")
  status=0
  step() { # step NAME SECONDS COMMAND...: runs with a timeout, logs to $out/NAME.log, remembers the first failure
    local name=$1 limit=$2; shift 2
    echo "=== $name (limit ${limit}s): $*"
    local started=$SECONDS
    timeout --kill-after=10 "$limit" "$@" > >(tee "$out/$name.log") 2>&1
    local rc=$?
    echo "=== $name: exit $rc after $((SECONDS - started)) s"
    if [ $rc -ne 0 ] && [ $status -eq 0 ]; then status=$rc; fi
  }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$out/gpu.txt"
  if [ "$mode" = sweep ]; then
    # the rows a warp of the sage gemv takes at once, 4 (the default) beside 1, 2 and 8 in one interleaved run
    step synth-llama2-7b 45 "${sageptq[@]}" synth --shape llama2-7b --rotate --out "$scratch/llama2-7b-sage"
    step sweep-rows-per-warp 230 "${sageptq[@]}" bench --backend cuda --pack "$scratch/llama2-7b-sage" --rows-per-warp 4 1 2 8 \
      --prompt 16 --tokens 128 --repeat 3 --json
    echo "device-check sweep: exit $status (logs in $out)"
    exit $status
  fi
  # the sagelm-7m packs, from the tracked model (seconds on this machine's cores): fp16, sage, and rtn 4-bit with
  # 8-bit embeddings (the uniform gemv and its block-32 activations)
  packs=$scratch/packs
  step pack-sagelm-7m-fp16 20 "${sageptq[@]}" quantize --model models/sagelm-7m --method fp16 --out "$packs/sagelm-7m-fp16"
  step pack-sagelm-7m-sage 30 "${sageptq[@]}" quantize --model models/sagelm-7m --method sage --out "$packs/sagelm-7m-sage"
  step pack-sagelm-7m-rtn4 20 "${sageptq[@]}" quantize --model models/sagelm-7m --method rtn --bits 4 --embeddings 8 --out "$packs/sagelm-7m-rtn4"
  step cuda-check 160 "${sageptq[@]}" cuda-check --pack "$packs/sagelm-7m-fp16" --pack "$packs/sagelm-7m-sage" --pack "$packs/sagelm-7m-rtn4" \
    --text tests/Shared/Fixtures/test-excerpt.txt --max-windows 2 --seq 256
  step synth-llama2-7b 45 "${sageptq[@]}" synth --shape llama2-7b --rotate --out "$scratch/llama2-7b-sage"
  step bench-llama2-7b 110 "${sageptq[@]}" bench --backend cuda --pack "$scratch/llama2-7b-sage" --prompt 16 --tokens 128 --repeat 3 --json
  # where a token's time goes: every launch of one step timed on its own, by part, beside the graph replay
  step profile-llama2-7b 75 "${sageptq[@]}" bench --backend cuda --profile --pack "$scratch/llama2-7b-sage" --prompt 16 --repeat 5
  # sagelm-30m: the same pack decoded on the GPU, then on this machine's CPU cores
  step bench-sagelm-30m-cuda 50 "${sageptq[@]}" bench --backend cuda --pack .device/packs/sagelm-30m-sage --prompt 64 --tokens 128 --repeat 3 --json
  step bench-sagelm-30m-cpu 50 "${sageptq[@]}" bench --pack .device/packs/sagelm-30m-sage --prompt 64 --tokens 128 --repeat 3 --no-reference --json
  echo "device-check: exit $status (logs in $out)"
  exit $status
  ;;
*)
  echo "usage: bash tools/device-check.sh prepare   (here)  |  bash tools/device-check.sh run|sweep   (on the GPU machine)" >&2
  exit 2
  ;;
esac
