using System.Globalization;
using System.Text;
using System.Text.Json;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Synthetic;

/// <summary>
/// Writes a Hugging Face-layout checkpoint of a <see cref="SyntheticShape"/> filled with
/// <see cref="SyntheticWeights"/>: config.json, <c>model-0000N-of-0000M.safetensors</c> shards of at most
/// the given size (a tensor is never split; one larger than the limit gets a shard of its own), with
/// <c>model.safetensors.index.json</c>, and a tokenizer.json. Values are generated a block of rows at a
/// time and streamed to disk, so memory stays at a few MB whatever the shape. The folder is built under
/// a temporary name beside the target and renamed into place at the end; a failure or cancellation
/// removes it. Same shape, seed, dtype and shard size: byte-identical files.
/// </summary>
public static class SyntheticCheckpoint
{
    /// <summary>The shard size limit Hugging Face uses by default (5 GB).</summary>
    public const long DefaultShardBytes = 5_000_000_000L;

    /// <summary>Values generated per block (4 MB of FP32).</summary>
    private const int BlockValues = 1 << 20;

    /// <summary>Writes the checkpoint folder <paramref name="directory"/>, which must not exist or be empty.</summary>
    /// <param name="tokenizerJson">The tokenizer.json bytes to ship with it.</param>
    /// <param name="tensorDone">Told the number of tensors written so far, out of <see cref="TensorCount"/>.</param>
    /// <returns>The shard file names, in order.</returns>
    /// <exception cref="ArgumentException">A dtype other than F16/BF16, or a shard limit below 1 byte.</exception>
    /// <exception cref="ModelFileException">The folder exists and is not empty, or cannot be written.</exception>
    public static IReadOnlyList<string> Write(string directory, SyntheticShape shape, ulong seed, TensorDType dtype, long shardBytes,
        byte[] tokenizerJson, Action<int>? tensorDone = null, CancellationToken cancellation = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(tokenizerJson);
        if (dtype is not (TensorDType.F16 or TensorDType.BF16)) throw new ArgumentException($"dtype must be F16 or BF16, not {dtype}", nameof(dtype));
        ArgumentOutOfRangeException.ThrowIfLessThan(shardBytes, 1L);

        string target = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        if (Directory.Exists(target) && Directory.EnumerateFileSystemEntries(target).Any())
            throw new ModelFileException(target, "already exists and is not empty: remove it or choose another --out");
        string parent = Path.GetDirectoryName(target) ?? throw new ModelFileException(target, "has no parent folder");
        string temp = Path.Combine(parent, $".{Path.GetFileName(target)}.{Guid.NewGuid():N}.tmp");

        var config = shape.ToConfig();
        var shards = PlanShards(LlamaTensors.Expected(config).ToList(), shardBytes);
        var names = shards.Select((_, k) => string.Create(CultureInfo.InvariantCulture, $"model-{k + 1:D5}-of-{shards.Count:D5}.safetensors")).ToList();
        try
        {
            Directory.CreateDirectory(temp);
            File.WriteAllText(Path.Combine(temp, Checkpoint.ConfigFileName), shape.ToConfigJson(dtype == TensorDType.BF16 ? "bfloat16" : "float16") + "\n");
            File.WriteAllBytes(Path.Combine(temp, Checkpoint.TokenizerFileName), tokenizerJson);
            int done = 0;
            var block = new float[BlockValues];
            for (int k = 0; k < shards.Count; k++)
            {
                using var writer = new SafetensorsShardWriter(Path.Combine(temp, names[k]), shards[k], dtype);
                foreach (var (name, tensorShape) in shards[k])
                {
                    cancellation.ThrowIfCancellationRequested();
                    WriteTensor(writer, name, tensorShape, seed, block);
                    tensorDone?.Invoke(++done);
                }
                writer.Finish();
            }
            File.WriteAllBytes(Path.Combine(temp, Checkpoint.IndexFileName), IndexJson(shards, names));

            if (Directory.Exists(target)) Directory.Delete(target);   // checked empty above
            Directory.Move(temp, target);
            return names;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(target, $"checkpoint could not be written: {e.Message}", e);
        }
        finally
        {
            if (Directory.Exists(temp))
                try { Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Tensors the checkpoint of <paramref name="shape"/> holds.</summary>
    public static int TensorCount(SyntheticShape shape) => LlamaTensors.Expected(shape.ToConfig()).Count();

    /// <summary>Tensors in forward order, cut greedily into shards of at most <paramref name="shardBytes"/> data bytes.</summary>
    internal static List<List<(string Name, long[] Shape)>> PlanShards(IReadOnlyList<(string Name, long[] Shape)> tensors, long shardBytes)
    {
        var shards = new List<List<(string, long[])>> { new() };
        long used = 0;
        foreach (var tensor in tensors)
        {
            long bytes = SafetensorsShardWriter.DataBytes([tensor]);
            if (used > 0 && used + bytes > shardBytes) { shards.Add([]); used = 0; }
            shards[^1].Add(tensor);
            used += bytes;
        }
        return shards;
    }

    private static void WriteTensor(SafetensorsShardWriter writer, string name, long[] shape, ulong seed, float[] block)
    {
        ulong tensorSeed = LinearSeeds.For(seed, name);
        var weights = shape.Length == 1 ? SyntheticWeights.Norm((int)shape[0], tensorSeed)
            : name is LlamaTensors.Embedding or LlamaTensors.LmHead ? SyntheticWeights.Vocab((int)shape[0], (int)shape[1], tensorSeed)
            : SyntheticWeights.Linear((int)shape[0], (int)shape[1], tensorSeed);
        int cols = shape.Length == 1 ? (int)shape[0] : (int)shape[1];
        int rowsPerBlock = Math.Max(1, BlockValues / cols);
        for (int row = 0; row < weights.Rows; row += rowsPerBlock)
        {
            int rows = Math.Min(rowsPerBlock, weights.Rows - row);
            var span = block.AsSpan(0, rows * cols);
            weights.Fill(row, span);
            writer.Write(span);
        }
    }

    /// <summary>model.safetensors.index.json: total data size and each tensor's shard, names sorted as Hugging Face writes them.</summary>
    private static byte[] IndexJson(List<List<(string Name, long[] Shape)>> shards, List<string> names)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (int k = 0; k < shards.Count; k++)
            foreach (var (name, _) in shards[k]) map[name] = names[k];
        var index = new
        {
            metadata = new { total_size = shards.Sum(s => SafetensorsShardWriter.DataBytes(s)) },
            weight_map = map,
        };
        return Encoding.UTF8.GetBytes(JsonSerializer.Serialize(index, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
