using SagePtq.Tests;

namespace SagePtq.EndToEnd.Tests;

/// <summary>
/// The SagePtq packages packed from this repository into a temporary feed, once per test run, with a
/// version of their own (so no NuGet cache can hold a stale copy), and a NuGet configuration that
/// restores from that feed only, with this machine's global packages folder as a read-only fallback
/// for the dependencies (no network needed). Everything goes under one temporary folder.
/// </summary>
public sealed class LocalFeed : IDisposable
{
    private readonly TempDir _root = TestAssets.NewTempDir();

    public LocalFeed()
    {
        Version = $"0.0.0-e2e.{DateTime.UtcNow:yyyyMMddHHmmss}";
        FeedDirectory = Path.Combine(_root.Path, "feed");
        PackagesDirectory = Path.Combine(_root.Path, "packages");
        string artifacts = Path.Combine(_root.Path, "artifacts");
        foreach (var project in new[] { "src/Runtime/SagePtq.Runtime.csproj", "src/Tasks/SagePtq.Tasks.csproj" })
            DotNet.Run(TestAssets.RepoRoot, null, TimeSpan.FromMinutes(5),
                "pack", project, "-c", "Release", "--artifacts-path", artifacts, "-o", FeedDirectory, $"-p:Version={Version}").EnsureSuccess();

        NuGetConfig = Path.Combine(_root.Path, "NuGet.config");
        File.WriteAllText(NuGetConfig, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="sageptq-e2e" value="{FeedDirectory}" />
              </packageSources>
              <fallbackPackageFolders>
                <clear />
                <add key="machine" value="{MachinePackagesFolder()}" />
              </fallbackPackageFolders>
              <config>
                <add key="globalPackagesFolder" value="{PackagesDirectory}" />
              </config>
            </configuration>
            """);
    }

    /// <summary>The version both packages were packed with.</summary>
    public string Version { get; }

    public string FeedDirectory { get; }

    /// <summary>Where consuming builds restore packages to (this run's own).</summary>
    public string PackagesDirectory { get; }

    /// <summary>A NuGet.config that consuming projects are given (copied beside them).</summary>
    public string NuGetConfig { get; }

    /// <summary>A fresh folder for one consuming app, under this feed's temporary root.</summary>
    public string NewAppDirectory(string name)
    {
        string directory = Path.Combine(_root.Path, "apps", name);
        Directory.CreateDirectory(directory);
        File.Copy(NuGetConfig, Path.Combine(directory, "NuGet.config"));
        return directory;
    }

    private static string MachinePackagesFolder() =>
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } fromEnv
            ? fromEnv
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");

    public void Dispose() => _root.Dispose();
}

[CollectionDefinition(Name)]
public sealed class LocalFeedCollection : ICollectionFixture<LocalFeed>
{
    public const string Name = "local feed";
}
