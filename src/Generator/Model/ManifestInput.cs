namespace SagePtq.Generator.Model;

/// <summary>
/// One SagePtq manifest as the pipeline first sees it: the AdditionalFiles path and text, and the
/// item metadata from the analyzer config. Only files with <c>SagePtqModelId</c> become one.
/// </summary>
/// <remarks>
/// Pipeline models follow the System.Text.Json generator's rules: immutable, and equal when their
/// contents are equal (records over strings, numbers and <see cref="EquatableArray{T}"/>), with no
/// Roslyn symbol, <c>SourceText</c> or <c>Location</c> inside. Breaking either rule breaks caching.
/// </remarks>
/// <param name="Path">The manifest's path as the compiler knows it (for diagnostics).</param>
/// <param name="Text">The manifest text.</param>
/// <param name="ModelId">The <c>SagePtqModelId</c> metadata (e.g. <c>sagelm-7m</c>).</param>
/// <param name="ClassName">The <c>SagePtqClassName</c> metadata, or null to derive it from the ID.</param>
/// <param name="Namespace">The <c>SagePtqNamespace</c> metadata, else <c>RootNamespace</c>, else null (global namespace).</param>
/// <param name="PackMode">The <c>SagePtqPackMode</c> metadata (<c>Embed</c> or <c>Copy</c>), or null; only shown in comments.</param>
internal sealed record ManifestInput(string Path, string Text, string ModelId, string? ClassName, string? Namespace, string? PackMode);
