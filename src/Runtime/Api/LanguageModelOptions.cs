namespace SagePtq.Runtime;

/// <summary>Which implementation of the forward pass runs a pack.</summary>
public enum ModelBackend
{
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
    /// <summary>The forward pass to run. Default <see cref="ModelBackend.Reference"/>, the only one so far.</summary>
    public ModelBackend Backend
    {
        get;
        init => field = Enum.IsDefined(value) ? value
            : throw new ArgumentOutOfRangeException(nameof(Backend), value, "not a ModelBackend");
    } = ModelBackend.Reference;

    /// <summary>Check the pack's payload checksum while opening it (reads the whole file once). Default true.</summary>
    public bool VerifyPayloadChecksum { get; init; } = true;

    /// <summary>The name the model reports (e.g. as a chat client's model id). Null (the default) = the pack folder's name.</summary>
    public string? ModelId { get; init; }
}
