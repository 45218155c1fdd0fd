using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SagePtq.Tasks;

/// <summary>What decides the bytes of a pack, for <see cref="InputHash"/>.</summary>
internal sealed class QuantizeInputs
{
    public string Method { get; set; } = "";

    /// <summary>Method options, already normalized (see <see cref="InputHash.NormalizeOptions"/>).</summary>
    public string Options { get; set; } = "";

    public string Bits { get; set; } = "";

    public string Seed { get; set; } = "";

    public string Embeddings { get; set; } = "";

    /// <summary>The quantizer's dll; it and the other dlls beside it are hashed by content.</summary>
    public string QuantizerPath { get; set; } = "";

    /// <summary>The calibration text, hashed by content; empty for data-free quantization.</summary>
    public string CalibrationPath { get; set; } = "";

    public string CheckpointDir { get; set; } = "";
}

/// <summary>
/// The SHA-256 that says whether a pack is current. Checkpoint files enter by name, size and
/// last-write time only: hashing a 13 GB checkpoint on every build would cost a minute. The
/// quantizer (its dlls, by content) and the calibration text (by content) are small and hashed fully.
/// </summary>
internal static class InputHash
{
    public const string FileName = "inputs.hash";

    public static string Compute(QuantizeInputs inputs)
    {
        var text = new StringBuilder();
        text.Append("sageptq-inputs 1\n");
        text.Append("method=").Append(inputs.Method).Append('\n');
        text.Append("options=").Append(inputs.Options).Append('\n');
        text.Append("bits=").Append(inputs.Bits).Append('\n');
        text.Append("seed=").Append(inputs.Seed).Append('\n');
        text.Append("embeddings=").Append(inputs.Embeddings).Append('\n');
        foreach (string dll in QuantizerFiles(inputs.QuantizerPath))
            text.Append("quantizer ").Append(Path.GetFileName(dll)).Append(' ').Append(HashFile(dll)).Append('\n');
        text.Append("calibration=").Append(inputs.CalibrationPath.Length == 0 ? "none" : HashFile(inputs.CalibrationPath)).Append('\n');
        foreach (var file in CheckpointFiles(inputs.CheckpointDir))
        {
            text.Append("checkpoint ").Append(file.Name)
                .Append(' ').Append(file.Length.ToString(CultureInfo.InvariantCulture))
                .Append(' ').Append(file.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
        return ToHex(Sha256(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The files of a checkpoint folder (not its subfolders), in ordinal order of name; hidden files are skipped.</summary>
    public static IReadOnlyList<FileInfo> CheckpointFiles(string checkpointDir) =>
        new DirectoryInfo(checkpointDir).GetFiles()
            .Where(f => !f.Name.StartsWith(".", StringComparison.Ordinal))
            .OrderBy(f => f.Name, StringComparer.Ordinal)
            .ToList();

    /// <summary>
    /// <c>key=value</c> pairs separated by <c>;</c> in a canonical form: trimmed, lower-case keys,
    /// sorted by key, so that a reordering of the metadata does not re-quantize.
    /// </summary>
    /// <exception cref="ArgumentException">A pair without <c>=</c>, an empty key, or a key given twice.</exception>
    public static string NormalizeOptions(string options)
    {
        var pairs = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string raw in options.Split(new[] { ';' }, StringSplitOptions.RemoveEmptyEntries))
        {
            string pair = raw.Trim();
            if (pair.Length == 0) continue;
            int eq = pair.IndexOf('=');
            if (eq <= 0) throw new ArgumentException($"option '{pair}' is not key=value", nameof(options));
            string key = pair.Substring(0, eq).Trim().ToLowerInvariant(), value = pair.Substring(eq + 1).Trim();
            if (key.Length == 0) throw new ArgumentException($"option '{pair}' has no key", nameof(options));
            if (pairs.ContainsKey(key)) throw new ArgumentException($"option '{key}' is given twice", nameof(options));
            pairs.Add(key, value);
        }
        return string.Join(";", pairs.Select(p => p.Key + "=" + p.Value));
    }

    /// <summary>Writes the hash only when it differs, so that its time stamp changes exactly when the inputs do.</summary>
    /// <returns>True when the file was written.</returns>
    public static bool WriteIfChanged(string path, string hash)
    {
        if (File.Exists(path) && string.Equals(File.ReadAllText(path).Trim(), hash, StringComparison.Ordinal)) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, hash + "\n");
        return true;
    }

    private static IEnumerable<string> QuantizerFiles(string quantizerPath)
    {
        if (!File.Exists(quantizerPath)) throw new FileNotFoundException($"the quantizer {quantizerPath} does not exist", quantizerPath);
        // The quantizer's behaviour lives in its own dll and the SagePtq dlls beside it.
        string dir = Path.GetDirectoryName(Path.GetFullPath(quantizerPath))!;
        return new[] { Path.GetFullPath(quantizerPath) }
            .Concat(Directory.GetFiles(dir, "SagePtq.*.dll").OrderBy(f => f, StringComparer.Ordinal))
            .Distinct(StringComparer.Ordinal);
    }

    private static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        using var sha = SHA256.Create();
        return ToHex(sha.ComputeHash(stream));
    }

    private static byte[] Sha256(byte[] data)
    {
        using var sha = SHA256.Create();
        return sha.ComputeHash(data);
    }

    private static string ToHex(byte[] bytes)
    {
        var hex = new StringBuilder(bytes.Length * 2);
        foreach (byte b in bytes) hex.Append(b.ToString("x2", CultureInfo.InvariantCulture));
        return hex.ToString();
    }
}
