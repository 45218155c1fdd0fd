#!/usr/bin/env bash
# Runs the CUDA tests against a host-memory fake of libcuda.so.1 and libnvrtc.so.13 (fake_cuda.c,
# fake_nvrtc.c), so the GPU-only tests (CudaFact) exercise the binding's calls, argument passing,
# capture and error paths on a machine without a GPU. It checks the C ABI use, not GPU behaviour.
# Usage (from the repository root, after a Release build): bash tests/SagePtq.Runtime.Tests/Cuda/FakeDriver/run.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cc -std=gnu11 -O1 -Wall -Wextra -Werror -shared -fPIC -o "$out/libcuda.so.1" "$here/fake_cuda.c"
cc -std=gnu11 -O1 -Wall -Wextra -Werror -shared -fPIC -o "$out/libnvrtc.so.13" "$here/fake_nvrtc.c"
cd "$root"
LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" SAGEPTQ_CUDA_CACHE="$out/cache" \
  dotnet test tests/SagePtq.Runtime.Tests -c Release --no-build --filter "FullyQualifiedName~SagePtq.Runtime.Tests.Cuda" "$@"
