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

    /// <summary>The name the model reports (e.g. as a chat client's model id). Null (the default) = the pack folder's name.</summary>
    public string? ModelId { get; init; }
}
