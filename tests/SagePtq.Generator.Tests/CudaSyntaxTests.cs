using System.Diagnostics;
using SagePtq.Tests;

namespace SagePtq.Generator.Tests;

/// <summary>
/// Every verified .cu snapshot is valid CUDA C++ against the real header: clang-14 checks syntax and
/// types for sm_80 without the CUDA toolkit (issue 6, item 5), using the CUDA helper's prelude.
/// Skipped with a message where clang-14, the header or the prelude is absent.
/// </summary>
public sealed class CudaSyntaxTests
{
    public static TheoryData<string> VerifiedCudaFiles()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(CudaToolchain.SnapshotDirectory, "*.verified.cu").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(file));
        return data;
    }

    [ClangTheory]
    [MemberData(nameof(VerifiedCudaFiles))]
    public void Verified_cuda_compiles_for_sm80(string fileName)
    {
        using var dir = TestAssets.NewTempDir();
        File.Copy(CudaToolchain.Header, dir.File("sageptq.cuh"));
        File.Copy(CudaToolchain.Prelude, dir.File("clang_prelude.h"));
        var kernel = dir.File(fileName);
        File.Copy(Path.Combine(CudaToolchain.SnapshotDirectory, fileName), kernel);

        var start = new ProcessStartInfo("clang-14")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = dir.Path,
        };
        foreach (var argument in new[]
                 {
                     "-x", "cuda", "--cuda-device-only", "--cuda-gpu-arch=sm_80", "-nocudainc", "-nocudalib",
                     "-include", dir.File("clang_prelude.h"), "-I", dir.Path, "-fsyntax-only", kernel,
                 })
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"clang-14 refused {fileName} (exit {process.ExitCode}):\n{stdout}{stderr.Result}");
    }
}

/// <summary>Where the CUDA syntax check finds its tools.</summary>
internal static class CudaToolchain
{
    public static string SnapshotDirectory { get; } = Path.Combine(TestAssets.RepoRoot, "tests", "SagePtq.Generator.Tests", "Snapshots");

    public static string Header { get; } = Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "sageptq.cuh");

    public static string Prelude { get; } = Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "clang_prelude.h");

    /// <summary>Why the check cannot run here, or null when it can.</summary>
    public static string? Missing { get; } = FindMissing();

    private static string? FindMissing()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, "clang-14")));
        if (!onPath) return "clang-14 is not on PATH: the CUDA syntax check of the verified .cu files is skipped.";
        // The real header defines the block size every generated kernel names; a placeholder does not.
        if (!File.Exists(Header) || !File.ReadAllText(Header).Contains("SAGEPTQ_THREADS", StringComparison.Ordinal))
            return "templates/cuda/sageptq.cuh is absent or a placeholder: the CUDA syntax check is skipped.";
        if (!File.Exists(Prelude)) return "templates/cuda/clang_prelude.h is absent: the CUDA syntax check is skipped.";
        return null;
    }
}

/// <summary>A theory that needs clang-14 and the CUDA templates; skipped with the reason otherwise.</summary>
public sealed class ClangTheoryAttribute : TheoryAttribute
{
    public ClangTheoryAttribute()
    {
        if (CudaToolchain.Missing is { } reason) Skip = reason;
    }
}
