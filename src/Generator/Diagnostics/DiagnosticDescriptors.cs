using Microsoft.CodeAnalysis;

namespace SagePtq.Generator.Diagnostics;

/// <summary>
/// The generator's diagnostics (SPQ1xxx). Every one points at the manifest file; the messages name
/// the manifest, the field and what is wrong, the way the quantizer's errors do.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "SagePtq.Generator";

    /// <summary>SPQ1001: the manifest is not well-formed JSON. Args: file, line, column, problem.</summary>
    public static DiagnosticDescriptor MalformedJson { get; } = new DiagnosticDescriptor(
        "SPQ1001", "The SagePtq manifest is not valid JSON",
        "{0}: not valid JSON at line {1}, column {2}: {3}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true, customTags: WellKnownDiagnosticTags.NotConfigurable);

    /// <summary>SPQ1002: the manifest schema version is not 1. Args: file, version found.</summary>
    public static DiagnosticDescriptor UnsupportedSchemaVersion { get; } = new DiagnosticDescriptor(
        "SPQ1002", "Unsupported SagePtq manifest schema version",
        "{0}: schemaVersion {1} is not supported (this generator reads version 1): update SagePtq or re-quantize the model",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true, customTags: WellKnownDiagnosticTags.NotConfigurable);

    /// <summary>SPQ1003: a field is missing or invalid. Args: file, field path, problem.</summary>
    public static DiagnosticDescriptor InvalidField { get; } = new DiagnosticDescriptor(
        "SPQ1003", "Missing or invalid field in the SagePtq manifest",
        "{0}: {1}: {2}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true, customTags: WellKnownDiagnosticTags.NotConfigurable);

    /// <summary>SPQ1004: a linear's layout has no CUDA kernel. Args: file, linear, layout.</summary>
    public static DiagnosticDescriptor LayoutWithoutCudaKernel { get; } = new DiagnosticDescriptor(
        "SPQ1004", "Layout has no CUDA kernel",
        "{0}: {1} uses the '{2}' layout, which has no CUDA kernel: the model runs on the CPU backend only",
        Category, DiagnosticSeverity.Warning, isEnabledByDefault: true);

    /// <summary>SPQ1005: the class name or namespace is not valid C#. Args: file, value, what it is, why.</summary>
    public static DiagnosticDescriptor InvalidName { get; } = new DiagnosticDescriptor(
        "SPQ1005", "Invalid class name or namespace for a SagePtq model",
        "{0}: '{1}' is not a valid {2}: {3}",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true, customTags: WellKnownDiagnosticTags.NotConfigurable);

    /// <summary>SPQ1006: two models would generate the same class. Args: file, model ID, class, other model ID, other file.</summary>
    public static DiagnosticDescriptor DuplicateClassName { get; } = new DiagnosticDescriptor(
        "SPQ1006", "Two SagePtq models generate the same class",
        "{0}: model '{1}' would generate the class '{2}', which model '{3}' ({4}) already generates: set SagePtqClassName on one of them",
        Category, DiagnosticSeverity.Error, isEnabledByDefault: true, customTags: WellKnownDiagnosticTags.NotConfigurable);

    /// <summary>The descriptor with <paramref name="id"/>.</summary>
    public static DiagnosticDescriptor ById(string id) => id switch
    {
        "SPQ1001" => MalformedJson,
        "SPQ1002" => UnsupportedSchemaVersion,
        "SPQ1003" => InvalidField,
        "SPQ1004" => LayoutWithoutCudaKernel,
        "SPQ1005" => InvalidName,
        "SPQ1006" => DuplicateClassName,
        _ => throw new System.ArgumentException("unknown diagnostic ID " + id, nameof(id)),
    };
}
