using SagePtq.Runtime.Cuda;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>A fact that needs a usable CUDA device and NVRTC; skipped with the probe's reason elsewhere.</summary>
public sealed class CudaFactAttribute : FactAttribute
{
    public CudaFactAttribute()
    {
        if (!CudaAvailability.IsAvailable) Skip = $"needs a CUDA device: {CudaAvailability.Probe.Reason}";
    }
}

/// <summary>A fact about the fallback path: runs only where CUDA is unavailable (this machine, CI).</summary>
public sealed class NoCudaFactAttribute : FactAttribute
{
    public NoCudaFactAttribute()
    {
        if (CudaAvailability.IsAvailable) Skip = "CUDA is available here; this checks the fallback without it";
    }
}
