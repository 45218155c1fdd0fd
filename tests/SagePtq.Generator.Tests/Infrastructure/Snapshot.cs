using System.Runtime.CompilerServices;
using System.Text;
using DiffPlex.DiffBuilder;
using DiffPlex.DiffBuilder.Model;

namespace SagePtq.Generator.Tests.Infrastructure;

/// <summary>
/// A small Verify-style snapshot check: <c>content</c> is compared byte for byte with
/// <c>Snapshots/{name}.verified.{extension}</c> beside the calling test's source file. On a mismatch the
/// content is written to <c>{name}.received.{extension}</c> and the test fails with a unified diff;
/// with <c>SAGEPTQ_ACCEPT_SNAPSHOTS=1</c> the content replaces the verified file instead.
/// </summary>
internal static class Snapshot
{
    /// <summary>The environment variable that accepts received content as the new verified snapshot.</summary>
    public const string AcceptVariable = "SAGEPTQ_ACCEPT_SNAPSHOTS";

    /// <summary>Checks <paramref name="content"/> against its verified snapshot (see the class remarks).</summary>
    public static void Verify(string content, string name, string extension, [CallerFilePath] string sourceFile = "")
    {
        var directory = Path.Combine(Path.GetDirectoryName(sourceFile)!, "Snapshots");
        var result = Compare(content, directory, name, extension, Environment.GetEnvironmentVariable(AcceptVariable) == "1");
        if (result is not null) Assert.Fail(result);
    }

    /// <summary>
    /// The check itself, apart from xunit and the environment: null when the snapshot matches (or was
    /// accepted), else the failure message. Writes or deletes the received file as the outcome says.
    /// </summary>
    public static string? Compare(string content, string directory, string name, string extension, bool accept)
    {
        var verified = Path.Combine(directory, $"{name}.verified.{extension}");
        var received = Path.Combine(directory, $"{name}.received.{extension}");
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        if (accept)
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(verified, content, utf8);
            File.Delete(received);
            return null;
        }
        if (!File.Exists(verified))
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(received, content, utf8);
            return $"No verified snapshot {verified}.\nThe output was written to {received}: review it and rename it to " +
                   $"{Path.GetFileName(verified)}, or run the tests with {AcceptVariable}=1 to accept every received snapshot.";
        }
        var expected = File.ReadAllText(verified, utf8);
        if (expected == content)
        {
            File.Delete(received);
            return null;
        }
        File.WriteAllText(received, content, utf8);
        return $"{Path.GetFileName(verified)} does not match the output (written to {received}).\n" +
               $"Accept it with {AcceptVariable}=1 if the change is intended.\n" +
               (Normalize(expected) == Normalize(content)
                   ? "No line differs: the texts differ only in line ends or the final newline.\n"
                   : UnifiedDiff(expected, content, Path.GetFileName(verified), Path.GetFileName(received)));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n');

    /// <summary>A unified-style diff (three lines of context) of two texts, from DiffPlex's line diff.</summary>
    public static string UnifiedDiff(string expected, string actual, string expectedName, string actualName)
    {
        var lines = InlineDiffBuilder.Diff(expected, actual, ignoreWhiteSpace: false).Lines;
        var output = new StringBuilder();
        output.Append("--- ").Append(expectedName).Append('\n');
        output.Append("+++ ").Append(actualName).Append('\n');
        const int context = 3;
        var i = 0;
        while (i < lines.Count)
        {
            if (lines[i].Type == ChangeType.Unchanged) { i++; continue; }
            // A hunk: from `context` lines before this change to `context` lines after the last change
            // that lies within 2 × context of the previous one.
            var start = Math.Max(0, i - context);
            var end = i;
            while (end < lines.Count)
            {
                if (lines[end].Type != ChangeType.Unchanged) { end++; continue; }
                var next = end;
                while (next < lines.Count && lines[next].Type == ChangeType.Unchanged) next++;
                if (next < lines.Count && next - end <= 2 * context) { end = next; continue; }
                break;
            }
            var stop = Math.Min(lines.Count, end + context);
            int oldStart = 1, newStart = 1;
            for (var k = 0; k < start; k++)
            {
                if (lines[k].Type != ChangeType.Inserted) oldStart++;
                if (lines[k].Type != ChangeType.Deleted) newStart++;
            }
            int oldCount = 0, newCount = 0;
            var hunk = new StringBuilder();
            for (var k = start; k < stop; k++)
            {
                var line = lines[k];
                switch (line.Type)
                {
                    case ChangeType.Deleted: hunk.Append('-').Append(line.Text).Append('\n'); oldCount++; break;
                    case ChangeType.Inserted: hunk.Append('+').Append(line.Text).Append('\n'); newCount++; break;
                    default: hunk.Append(' ').Append(line.Text).Append('\n'); oldCount++; newCount++; break;
                }
            }
            output.Append($"@@ -{oldStart},{oldCount} +{newStart},{newCount} @@\n").Append(hunk);
            i = stop;
        }
        return output.ToString();
    }
}
