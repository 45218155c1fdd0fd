using System.Text.Json;

namespace SagePtq.Runtime.Checkpoints;

/// <summary>
/// A Hugging Face checkpoint folder: <c>config.json</c> plus either one <c>model.safetensors</c> or
/// shards listed by <c>model.safetensors.index.json</c>. Opening it maps the files and checks that
/// every tensor the LLaMA forward pass needs is present with the shape config.json implies, so a
/// mismatch is reported by name before any work starts. Tensors are then read one at a time.
/// </summary>
public sealed class Checkpoint : IDisposable
{
    public const string ConfigFileName = "config.json";
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";
    public const string TokenizerFileName = "tokenizer.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, (SafetensorsFile File, TensorInfo Info)> _tensors;

    private Checkpoint(string directory, ModelConfig config, List<SafetensorsFile> files)
    {
        Directory = directory;
        Config = config;
        _files = files;
        _tensors = new(StringComparer.Ordinal);
        foreach (var file in files)
            foreach (var (name, info) in file.Tensors)
                if (!_tensors.TryAdd(name, (file, info)))
                    throw new ModelFileException(file.Path, $"tensor {name} is also in {System.IO.Path.GetFileName(_tensors[name].File.Path)}");
    }

    public string Directory { get; }

    public ModelConfig Config { get; }

    /// <summary>The checkpoint's tokenizer.json (it may not exist; the tokenizer loader reports that).</summary>
    public string TokenizerPath => System.IO.Path.Combine(Directory, TokenizerFileName);

    public IEnumerable<string> TensorNames => _tensors.Keys;

    /// <summary>Bytes of all tensor data, for size reports.</summary>
    public long TotalTensorBytes => _tensors.Values.Sum(t => t.Info.ByteLength);

    public static Checkpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new ModelFileException(directory, "model folder not found");
        var config = ModelConfig.Load(System.IO.Path.Combine(directory, ConfigFileName));

        var files = new List<SafetensorsFile>();
        try
        {
            foreach (var path in ShardPaths(directory)) files.Add(SafetensorsFile.Open(path));
            var checkpoint = new Checkpoint(directory, config, files);
            checkpoint.CheckAgainstConfig();
            return checkpoint;
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static IEnumerable<string> ShardPaths(string directory)
    {
        string index = System.IO.Path.Combine(directory, IndexFileName);
        string single = System.IO.Path.Combine(directory, SingleFileName);
        if (File.Exists(index)) return ReadIndex(index);
        if (File.Exists(single)) return [single];
        throw new ModelFileException(directory, $"holds neither {SingleFileName} nor {IndexFileName}");
    }

    /// <summary>The shard files named by the index's weight_map, each once, in first-mention order.</summary>
    private static IEnumerable<string> ReadIndex(string indexPath)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(indexPath));
            if (!doc.RootElement.TryGetProperty("weight_map", out var map) || map.ValueKind != JsonValueKind.Object)
                throw new ModelFileException(indexPath, "has no weight_map object");
            var shards = new List<string>();
            foreach (var entry in map.EnumerateObject())
            {
                string shard = entry.Value.ValueKind == JsonValueKind.String ? entry.Value.GetString()!
                    : throw new ModelFileException(indexPath, $"weight_map entry {entry.Name} is not a file name");
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new ModelFileException(indexPath, $"weight_map names '{shard}', which is not a file in the model folder");
                string path = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(indexPath)!, shard);
                if (!shards.Contains(path)) shards.Add(path);
            }
            return shards;
        }
        catch (JsonException e)
        {
            throw new ModelFileException(indexPath, $"is not valid JSON ({e.Message})", e);
        }
    }

    private void CheckAgainstConfig()
    {
        foreach (var (name, shape) in LlamaTensors.Expected(Config))
        {
            if (!_tensors.TryGetValue(name, out var t))
                throw new ModelFileException(Directory, $"tensor {name} is missing from the checkpoint");
            if (!t.Info.Shape.SequenceEqual(shape))
                throw new ModelFileException(t.File.Path,
                    $"tensor {name} has shape {t.Info.ShapeText}, config.json says [{string.Join(", ", shape)}]");
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo GetInfo(string name) => Lookup(name).Info;

    /// <summary>The raw bytes of a tensor, valid while this checkpoint is open.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var (file, info) = Lookup(name);
        return file.GetBytes(info);
    }

    /// <summary>A whole tensor converted to FP32 (row-major).</summary>
    public float[] ReadFloat32(string name)
    {
        var (file, info) = Lookup(name);
        var data = new float[checked((int)info.ElementCount)];
        file.ReadFloat32(info, data);
        return data;
    }

    /// <summary>Elements <paramref name="start"/>.. of a tensor converted to FP32, for reading a matrix a few rows at a time.</summary>
    public void ReadFloat32(string name, Span<float> destination, long start = 0)
    {
        var (file, info) = Lookup(name);
        file.ReadFloat32(info, destination, start);
    }

    /// <summary>The LM head matrix: <c>lm_head.weight</c>, or the embedding when the two are tied.</summary>
    public string LmHeadName => Config.TieWordEmbeddings ? LlamaTensors.Embedding : LlamaTensors.LmHead;

    private (SafetensorsFile File, TensorInfo Info) Lookup(string name) =>
        _tensors.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"tensor {name} is not in the checkpoint at {Directory}");

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}
