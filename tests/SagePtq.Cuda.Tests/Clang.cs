using System.Diagnostics;

namespace SagePtq.Cuda.Tests;

/// <summary>Finds clang-14 (Debian's names) and runs it; the CUDA header is checked with it on machines without a GPU.</summary>
internal static class Clang
{
    /// <summary>The C++ driver, or null when clang-14 is not installed.</summary>
    public static string? CxxCompiler { get; } = Find("clang++-14");

    /// <summary>The C/CUDA driver, or null when clang-14 is not installed.</summary>
    public static string? CudaCompiler { get; } = Find("clang-14");

    public const string Missing = "clang-14 is not installed (apt-get install clang-14): the CUDA header cannot be checked on the CPU.";

    /// <summary>templates/cuda in the repository.</summary>
    public static string TemplateDir => Path.Combine(SagePtq.Tests.TestAssets.RepoRoot, "templates", "cuda");

    /// <summary>Runs <paramref name="compiler"/>; returns its exit code and everything it printed.</summary>
    public static (int ExitCode, string Output) Run(string compiler, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(compiler) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {compiler}");
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    private static string? Find(string name)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (directory.Length == 0) continue;
            string candidate = Path.Combine(directory, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}

/// <summary>A fact that needs clang-14; skipped with a message when it is absent.</summary>
public sealed class ClangFactAttribute : FactAttribute
{
    public ClangFactAttribute()
    {
        if (Clang.CxxCompiler is null || Clang.CudaCompiler is null) Skip = Clang.Missing;
    }
}

/// <summary>A theory that needs clang-14; skipped with a message when it is absent.</summary>
public sealed class ClangTheoryAttribute : TheoryAttribute
{
    public ClangTheoryAttribute()
    {
        if (Clang.CxxCompiler is null || Clang.CudaCompiler is null) Skip = Clang.Missing;
    }
}
