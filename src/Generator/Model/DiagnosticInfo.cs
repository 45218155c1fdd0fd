namespace SagePtq.Generator.Model;

/// <summary>
/// A diagnostic as plain values: <c>Diagnostic</c> and <c>Location</c> have no value equality
/// (dotnet/roslyn#68291), so the pipeline carries this and builds the real diagnostic only when it
/// reports it.
/// </summary>
/// <param name="Id">The descriptor ID (<c>SPQ1003</c>).</param>
/// <param name="FilePath">The manifest's path.</param>
/// <param name="Start">Offset of the span in the manifest text.</param>
/// <param name="Length">Length of the span.</param>
/// <param name="StartLine">Zero-based line of the span's start.</param>
/// <param name="StartColumn">Zero-based column of the span's start.</param>
/// <param name="EndLine">Zero-based line of the span's end.</param>
/// <param name="EndColumn">Zero-based column of the span's end.</param>
/// <param name="Arguments">The message arguments.</param>
internal sealed record DiagnosticInfo(
    string Id,
    string FilePath,
    int Start,
    int Length,
    int StartLine,
    int StartColumn,
    int EndLine,
    int EndColumn,
    EquatableArray<string> Arguments);

/// <summary>What parsing one manifest gave: the model (null when an error stopped it) and the diagnostics.</summary>
internal sealed record ParsedManifest(ModelSpec? Model, EquatableArray<DiagnosticInfo> Diagnostics);
