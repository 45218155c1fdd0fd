namespace SagePtq.Runtime.Cuda;

/// <summary>
/// NVRTC could not compile a kernel source. Carries the source's name and NVRTC's full program log;
/// the message starts with the name and includes the log, so it reads as a compiler error report.
/// </summary>
public sealed class CudaCompileException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="sourceName">The kernel or source file name given to the compiler (e.g. <c>layer03.cu</c>).</param>
    /// <param name="architecture">The target (<c>sm_90</c>).</param>
    /// <param name="log">The compiler's log, verbatim.</param>
    public CudaCompileException(string sourceName, string architecture, string log)
        : base($"NVRTC could not compile {sourceName} for {architecture}:{Environment.NewLine}{(string.IsNullOrWhiteSpace(log) ? "(empty log)" : log.TrimEnd())}")
    {
        SourceName = sourceName;
        Architecture = architecture;
        Log = log;
    }

    /// <summary>The kernel or source name given to the compiler.</summary>
    public string SourceName { get; }

    /// <summary>The target architecture (<c>sm_XY</c>).</summary>
    public string Architecture { get; }

    /// <summary>The compiler's full log.</summary>
    public string Log { get; }
}
