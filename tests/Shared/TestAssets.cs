using System.Reflection;

namespace SagePtq.Tests;

/// <summary>
/// Where the tests find their inputs: the repository (the embedded default model) and the
/// project's shared assets beside it (<c>../shared</c>: sagelm-30m, the Llama-2 tokenizer, the
/// corpus and the reference goldens). Tests that need <c>../shared</c> use <see cref="SharedFactAttribute"/>
/// and are skipped with a message when it is absent.
/// </summary>
internal static class TestAssets
{
    public static string RepoRoot { get; } = Path.GetFullPath(
        typeof(TestAssets).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "SagePtqRepoRoot").Value!);

    /// <summary>The shared assets folder: <c>$SAGEPTQ_SHARED</c>, else <c>../shared</c> beside the repository; null when absent.</summary>
    public static string? SharedDir { get; } = FindShared();

    public const string SharedMissing =
        "../shared is absent (set SAGEPTQ_SHARED to its path): this test needs the reference assets.";

    public static string EmbeddedModel => Path.Combine(RepoRoot, "models", "sagelm-7m");

    public static string Shared(params string[] parts) =>
        Path.Combine([SharedDir ?? throw new InvalidOperationException(SharedMissing), .. parts]);

    /// <summary>A fresh empty folder under the system temp path, deleted by the caller's <c>using</c>.</summary>
    public static TempDir NewTempDir() => new();

    private static string? FindShared()
    {
        var fromEnv = Environment.GetEnvironmentVariable("SAGEPTQ_SHARED");
        if (!string.IsNullOrEmpty(fromEnv) && Directory.Exists(fromEnv)) return Path.GetFullPath(fromEnv);
        var beside = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
        return Directory.Exists(Path.Combine(beside, "reference")) ? beside : null;
    }
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("sageptq-test-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A fact that needs <c>../shared</c>; skipped with a message when it is absent.</summary>
public sealed class SharedFactAttribute : FactAttribute
{
    public SharedFactAttribute()
    {
        if (TestAssets.SharedDir is null) Skip = TestAssets.SharedMissing;
    }
}

/// <summary>A theory that needs <c>../shared</c>; skipped with a message when it is absent.</summary>
public sealed class SharedTheoryAttribute : TheoryAttribute
{
    public SharedTheoryAttribute()
    {
        if (TestAssets.SharedDir is null) Skip = TestAssets.SharedMissing;
    }
}
