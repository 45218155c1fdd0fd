using System.Collections.ObjectModel;

namespace SagePtq.Runtime.Cuda.Compilation;

/// <summary>
/// One CUDA C++ source to compile for one architecture: the text, the headers it may <c>#include</c> by
/// name (given as text, so nothing is read from disk), and extra compiler options.
/// </summary>
public sealed class CudaCompileRequest
{
    /// <summary>Validates and captures the request.</summary>
    /// <param name="name">The source's name in logs and errors (<c>layer03.cu</c>).</param>
    /// <param name="source">The CUDA C++ text.</param>
    /// <param name="headers">Include name → header text (e.g. <c>"sageptq.cuh"</c>); null for none.</param>
    /// <param name="computeMajor">Target compute capability, major (e.g. 9).</param>
    /// <param name="computeMinor">Target compute capability, minor (e.g. 0).</param>
    /// <param name="extraOptions">Options added after the defaults (e.g. <c>--use_fast_math</c>, <c>-DNAME=1</c>); null for none.</param>
    public CudaCompileRequest(string name, string source, IReadOnlyDictionary<string, string>? headers,
        int computeMajor, int computeMinor, IEnumerable<string>? extraOptions = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(source);
        if (computeMajor is < 1 or > 99) throw new ArgumentOutOfRangeException(nameof(computeMajor), computeMajor, "a compute capability major version is 1..99");
        if (computeMinor is < 0 or > 9) throw new ArgumentOutOfRangeException(nameof(computeMinor), computeMinor, "a compute capability minor version is 0..9");
        var headerCopy = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (include, text) in headers ?? new Dictionary<string, string>())
        {
            if (string.IsNullOrWhiteSpace(include)) throw new ArgumentException("a header's include name is empty", nameof(headers));
            headerCopy[include] = text ?? throw new ArgumentException($"header {include} has no text", nameof(headers));
        }
        var options = new List<string>();
        foreach (var option in extraOptions ?? [])
        {
            if (string.IsNullOrWhiteSpace(option)) throw new ArgumentException("a compiler option is empty", nameof(extraOptions));
            options.Add(option);
        }
        Name = name;
        Source = source;
        Headers = new ReadOnlyDictionary<string, string>(headerCopy);
        ComputeMajor = computeMajor;
        ComputeMinor = computeMinor;
        ExtraOptions = options.AsReadOnly();
    }

    /// <summary>The source's name in logs and errors.</summary>
    public string Name { get; }

    /// <summary>The CUDA C++ text.</summary>
    public string Source { get; }

    /// <summary>Headers by include name, in ordinal order of the names.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>Target compute capability, major.</summary>
    public int ComputeMajor { get; }

    /// <summary>Target compute capability, minor.</summary>
    public int ComputeMinor { get; }

    /// <summary>The real-architecture name (<c>sm_90</c>) the CUBIN is built for.</summary>
    public string Architecture => $"sm_{ComputeMajor}{ComputeMinor}";

    /// <summary>The extra options, in the given order (order can matter to a compiler).</summary>
    public IReadOnlyList<string> ExtraOptions { get; }
}
