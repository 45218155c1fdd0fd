using SagePtq.Tests;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>The snapshot helper itself: match, mismatch with a diff and a received file, missing file, accept.</summary>
public sealed class SnapshotHelperTests
{
    [Fact]
    public void A_match_passes_and_leaves_no_received_file()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("a.verified.cs"), "line 1\nline 2\n");
        File.WriteAllText(dir.File("a.received.cs"), "stale");
        Assert.Null(Snapshot.Compare("line 1\nline 2\n", dir.Path, "a", "cs", accept: false));
        Assert.False(File.Exists(dir.File("a.received.cs")));
    }

    [Fact]
    public void A_mismatch_writes_the_received_file_and_shows_a_unified_diff()
    {
        using var dir = TestAssets.NewTempDir();
        var expected = string.Join("\n", Enumerable.Range(1, 20).Select(i => $"line {i}")) + "\n";
        var actual = expected.Replace("line 10\n", "line ten\n", StringComparison.Ordinal);
        File.WriteAllText(dir.File("a.verified.cs"), expected);
        var message = Snapshot.Compare(actual, dir.Path, "a", "cs", accept: false);
        Assert.NotNull(message);
        Assert.Equal(actual, File.ReadAllText(dir.File("a.received.cs")));
        Assert.Contains("--- a.verified.cs\n+++ a.received.cs\n@@ -7,7 +7,7 @@\n line 7\n line 8\n line 9\n-line 10\n+line ten\n line 11\n line 12\n line 13\n", message, StringComparison.Ordinal);
        Assert.Contains(Snapshot.AcceptVariable + "=1", message, StringComparison.Ordinal);
        Assert.Equal(expected, File.ReadAllText(dir.File("a.verified.cs")));
    }

    [Fact]
    public void A_difference_only_in_the_final_newline_is_explained()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("a.verified.cu"), "x\n");
        Assert.Contains("final newline", Snapshot.Compare("x", dir.Path, "a", "cu", accept: false), StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_verified_file_fails_with_instructions()
    {
        using var dir = TestAssets.NewTempDir();
        var message = Snapshot.Compare("new\n", dir.Path, "b", "cu", accept: false);
        Assert.Contains("No verified snapshot", message, StringComparison.Ordinal);
        Assert.Contains("rename it to b.verified.cu", message, StringComparison.Ordinal);
        Assert.Equal("new\n", File.ReadAllText(dir.File("b.received.cu")));
    }

    [Fact]
    public void Accepting_overwrites_the_verified_file()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("c.verified.cs"), "old\n");
        Assert.Null(Snapshot.Compare("new\n", dir.Path, "c", "cs", accept: true));
        Assert.Equal("new\n", File.ReadAllText(dir.File("c.verified.cs")));
        Assert.Null(Snapshot.Compare("new\n", dir.Path, "c", "cs", accept: false));
    }
}
