#!/usr/bin/env bash
# The CUDA backend's checks on the GPU machine, as one prepared command (docs/cuda-backend.md, "The device run").
#
#   here (no GPU):   bash tools/device-check.sh prepare
#                    -> publishes sageptq with the .NET runtime into .device/ (../shared/device/pack.sh) and
#                       quantizes the three small sagelm-7m packs it checks (fp16, sage, rtn 4-bit) into .device/packs
#   there (the run tool, carry [".device"], timeout_s 540):
#                    bash tools/device-check.sh run
#                    -> cuda-check on the three packs (self-test, every linear's kernels against the CPU kernels,
#                       greedy tokens of the golden prompts, perplexity within 0.5 %), then a synthetic
#                       llama2-7b sage pack, rotated as calibrated packs are, made ON the device (1 GB does not
#                       travel), bench --backend cuda on it beside the FP16 stand-in of the same shape, and
#                       bench --profile (each launch of a step timed, by part). Output and JSON land in $OUT.
#
# Each step has a timeout guard so the whole run fits in about 8 minutes; a step that fails or times out is
# reported and the next one still runs. Exit status: 0 when every step passed, else the first failure's.
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
  "${sageptq[@]}" quantize --model models/sagelm-7m --method fp16 --out .device/packs/sagelm-7m-fp16
  "${sageptq[@]}" quantize --model models/sagelm-7m --method sage --out .device/packs/sagelm-7m-sage
  # uniform decoder linears and a uniform embedding/LM head: the uniform gemv, the block-32 activations
  "${sageptq[@]}" quantize --model models/sagelm-7m --method rtn --bits 4 --embeddings 8 --out .device/packs/sagelm-7m-rtn4
  du -sh .device .device/packs/* | sed 's/^/  /'
  size=$(du -sm .device | cut -f1)
  if [ "$size" -gt 63 ]; then echo "error: .device is ${size} MiB, over the 64 MiB a run may carry" >&2; exit 1; fi
  echo "ready: run 'bash tools/device-check.sh run' on the GPU machine with carry [\".device\"]"
  ;;
run)
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
  step cuda-check 200 "${sageptq[@]}" cuda-check --pack .device/packs/sagelm-7m-fp16 --pack .device/packs/sagelm-7m-sage --pack .device/packs/sagelm-7m-rtn4 \
    --text tests/Shared/Fixtures/test-excerpt.txt --max-windows 2 --seq 256
  step synth-llama2-7b 60 "${sageptq[@]}" synth --shape llama2-7b --rotate --out "$scratch/llama2-7b-sage"
  step bench-llama2-7b 130 "${sageptq[@]}" bench --backend cuda --pack "$scratch/llama2-7b-sage" --prompt 16 --tokens 128 --repeat 3 --json
  # where a token's time goes: every launch of one step timed on its own, by part, beside the graph replay
  step profile-llama2-7b 90 "${sageptq[@]}" bench --backend cuda --profile --pack "$scratch/llama2-7b-sage" --prompt 16 --repeat 5
  echo "device-check: exit $status (logs in $out)"
  exit $status
  ;;
*)
  echo "usage: bash tools/device-check.sh prepare   (here)  |  bash tools/device-check.sh run   (on the GPU machine)" >&2
  exit 2
  ;;
esac
