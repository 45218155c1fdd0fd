namespace SagePtq.Runtime;

/// <summary>Which implementation of the forward pass runs a pack.</summary>
public enum ModelBackend
{
    /// <summary>
    /// The packed-weight CPU kernels (<see cref="Cpu.CpuModel"/>): weights stay in the memory-mapped pack and
    /// are read in place, with int8 activations and a persistent worker pool. The default.
    /// </summary>
    Cpu,

    /// <summary>
    /// Every weight dequantized once to FP32 and run by the reference forward pass
    /// (<see cref="Reference.ReferenceModel"/>): exact and portable, with the memory and speed of
    /// the unquantized model. The pack file is closed once it has been read.
    /// </summary>
    Reference,

    /// <summary>
    /// The GPU (<see cref="Cuda.Model.CudaModel"/>): the pack's sections uploaded as stored, kernels compiled with
    /// NVRTC for the device, batch-1 decode replayed as one CUDA graph per token. Asked for explicitly, it never
    /// falls back: without a usable CUDA device (or for a layout with no CUDA kernel) <see cref="LanguageModel.Open"/>
    /// throws <see cref="Cuda.Model.CudaUnavailableException"/> with the reason. Never checked on a GPU yet.
    /// </summary>
    Cuda,
}

/// <summary>How <see cref="LanguageModel.Open"/> loads a pack.</summary>
public sealed record LanguageModelOptions
{
    /// <summary>The forward pass to run. Default <see cref="ModelBackend.Cpu"/>.</summary>
    public ModelBackend Backend
    {
        get;
        init => field = Enum.IsDefined(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(Backend), value, "not a ModelBackend");
    } = ModelBackend.Cpu;

    /// <summary>Threads of the <see cref="ModelBackend.Cpu"/> backend, the caller included; 0 (the default) = every core.</summary>
    public int Threads
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value, nameof(Threads));
            field = value;
        }
    }

    /// <summary>Check the pack's payload checksum while opening it (reads the whole file once). Default true.</summary>
    public bool VerifyPayloadChecksum { get; init; } = true;

    /// <summary>Positions the <see cref="ModelBackend.Cuda"/> backend's KV cache holds; null (the default) = the model's own maximum.</summary>
    public int? ContextLength
    {
        get;
        init
        {
            if (value is < 1) throw new ArgumentOutOfRangeException(nameof(ContextLength), value, "must be at least 1");
            field = value;
        }
    }

    /// <summary>The name the model reports (e.g. as a chat client's model id). Null (the default) = the pack folder's name.</summary>
    public string? ModelId { get; init; }
}
