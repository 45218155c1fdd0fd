using System.Globalization;
using System.Text.Json;
using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Quantizer.Pipeline;

/// <summary>
/// The on-disk progress of a streamed quantization run, in the folder <c>OUT.partial</c> beside the pack
/// folder: <c>inputs.json</c> (what the run belongs to: the checkpoint files' names, sizes and modification
/// times, the method and every manifest option, seed included) and one <c>layer-NNNNN.bin</c> per finished
/// decoder layer (<see cref="LayerSpill"/>). Every file is written to a temporary name and renamed, so
/// a killed process leaves whole files or none. A run with other inputs discards the folder; a finished
/// run deletes it. While a store is open it holds an exclusive lock on <c>OUT.partial.lock</c>, so a
/// second run on the same output is refused instead of deleting the first one's files under it.
/// </summary>
public sealed class ResumeStore : IDisposable
{
    /// <summary>The file naming what the partial state belongs to.</summary>
    public const string InputsFileName = "inputs.json";

    private readonly string _directory;
    private readonly FileStream _lock;

    private ResumeStore(string directory, int finishedLayers, FileStream lockFile)
    {
        _directory = directory;
        FinishedLayers = finishedLayers;
        _lock = lockFile;
    }

    /// <summary>Layers 0..FinishedLayers−1 are on disk and can be loaded instead of quantized.</summary>
    public int FinishedLayers { get; }

    /// <summary>The resume folder of the pack folder <paramref name="packDirectory"/>: its sibling <c>NAME.partial</c>.</summary>
    public static string PathFor(string packDirectory) =>
        Path.GetFullPath(packDirectory).TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) + ".partial";

    /// <summary>
    /// The canonical text of a run's inputs: the checkpoint's config.json, index and shard files (name,
    /// size, UTC modification time), the method and its manifest options.
    /// </summary>
    public static string DescribeInputs(Checkpoint checkpoint, string method, IReadOnlyDictionary<string, string> options, int layers)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(options);
        var files = new List<string> { Path.Combine(checkpoint.Directory, Checkpoint.ConfigFileName) };
        string index = Path.Combine(checkpoint.Directory, Checkpoint.IndexFileName);
        if (File.Exists(index)) files.Add(index);
        files.AddRange(checkpoint.TensorNames.Select(n => checkpoint.GetInfo(n).FilePath).Distinct().Order(StringComparer.Ordinal));
        var described = new
        {
            format = 1,
            checkpoint = files.Select(f => new FileInfo(f)).Select(f => new
            {
                name = f.Name,
                bytes = f.Length,
                modified = f.LastWriteTimeUtc.ToString("O", CultureInfo.InvariantCulture),
            }),
            method,
            layers,
            options = new SortedDictionary<string, string>(options.ToDictionary(), StringComparer.Ordinal),
        };
        return JsonSerializer.Serialize(described, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// Opens (or starts) the resume folder for a run with <paramref name="inputs"/>: keeps the finished
    /// layers of a run with the same inputs, counting them up to the first missing or damaged file, and
    /// discards the folder of a run with other inputs. <paramref name="log"/> is told what was done.
    /// </summary>
    /// <exception cref="ModelFileException">The folder cannot be created or written, or another run holds it.</exception>
    public static ResumeStore Open(string directory, string inputs, int layers, Action<string>? log = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(inputs);
        var lockFile = Lock(directory);
        try
        {
            string inputsPath = Path.Combine(directory, InputsFileName);
            if (Directory.Exists(directory))
            {
                string? previous = File.Exists(inputsPath) ? File.ReadAllText(inputsPath) : null;
                if (previous == inputs)
                {
                    int finished = 0;
                    while (finished < layers && IsReadable(directory, finished)) finished++;
                    for (int layer = finished; layer < layers; layer++) File.Delete(LayerPath(directory, layer));
                    if (finished > 0) log?.Invoke($"resuming at layer {finished} of {layers} ({finished} finished layers in {directory})");
                    return new ResumeStore(directory, finished, lockFile);
                }
                log?.Invoke($"discarding the partial state in {directory}: it belongs to other inputs (checkpoint files, method, options or seed differ)");
                Directory.Delete(directory, recursive: true);
            }
            Directory.CreateDirectory(directory);
            WriteAtomically(inputsPath, System.Text.Encoding.UTF8.GetBytes(inputs));
            return new ResumeStore(directory, 0, lockFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            lockFile.Dispose();
            throw new ModelFileException(directory, $"resume folder cannot be used: {e.Message}", e);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>Takes the exclusive lock beside the folder (an advisory lock on Unix, a share mode on Windows).</summary>
    private static FileStream Lock(string directory)
    {
        string path = directory + ".lock";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (IOException e)
        {
            throw new ModelFileException(path, $"another quantize run is writing this output (its lock is held): {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ModelFileException(path, $"the lock of the resume folder cannot be created: {e.Message}", e);
        }
    }

    /// <summary>Releases the lock (the folder stays, for a later run to resume from, unless <see cref="Delete"/> removed it).</summary>
    public void Dispose() => _lock.Dispose();

    /// <summary>The linears of a finished layer (<paramref name="layer"/> &lt; <see cref="FinishedLayers"/>).</summary>
    /// <exception cref="InvalidDataException">The file changed since <see cref="Open"/> and is no longer readable.</exception>
    public List<SpilledLinear> Load(int layer)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(layer, FinishedLayers);
        return LayerSpill.Deserialize(File.ReadAllBytes(LayerPath(_directory, layer)), layer);
    }

    /// <summary>Records a finished layer.</summary>
    /// <exception cref="ModelFileException">The file cannot be written.</exception>
    public void Save(int layer, IReadOnlyList<SpilledLinear> linears)
    {
        try { WriteAtomically(LayerPath(_directory, layer), LayerSpill.Serialize(layer, linears)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ModelFileException(_directory, $"resume file of layer {layer} cannot be written: {e.Message}", e);
        }
    }

    /// <summary>Removes the folder once the pack is committed (a leftover is harmless: the next run discards or reuses it).</summary>
    public void Delete()
    {
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string LayerPath(string directory, int layer) =>
        Path.Combine(directory, string.Create(CultureInfo.InvariantCulture, $"layer-{layer:D5}.bin"));

    private static bool IsReadable(string directory, int layer)
    {
        string path = LayerPath(directory, layer);
        if (!File.Exists(path)) return false;
        try { LayerSpill.Deserialize(File.ReadAllBytes(path), layer); return true; }
        catch (InvalidDataException) { return false; }
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        string temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            file.Write(bytes);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }
}
