namespace SagePtq.Tasks;

/// <summary>The MSBuild error codes of the SagePtq tasks (the generator's are SPQ1xxx). docs/msbuild.md has the table.</summary>
internal static class ErrorCodes
{
    /// <summary>No checkpoint folder was found for a SagePtqModel ID; the message lists every place looked at.</summary>
    public const string ModelNotFound = "SPQ2001";

    /// <summary>The quantizer exited with an error; the error names the file it concerns and the exit code.</summary>
    public const string QuantizerFailed = "SPQ2002";

    /// <summary>A SagePtqModel item has bad metadata (an unknown PackMode, a malformed option, a missing calibration file, a duplicate ID).</summary>
    public const string BadMetadata = "SPQ2003";

    /// <summary>The quantizer dll (<c>$(SagePtqQuantizerPath)</c>) does not exist.</summary>
    public const string QuantizerMissing = "SPQ2004";

    /// <summary>Another build held the model's output folder longer than the lock timeout.</summary>
    public const string LockTimeout = "SPQ2005";
}

/// <summary>The names of the files in a model's output folder <c>$(IntermediateOutputPath)sageptq/{ID}/</c>.</summary>
internal static class OutputFiles
{
    public const string Pack = "model.sagepack";
    public const string Manifest = "model.manifest.json";
    public const string CompleteStamp = ".complete";
    public const string Lock = ".lock";
    public const string TempPrefix = "tmp-";
}
