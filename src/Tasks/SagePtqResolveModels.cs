using System.Collections.Generic;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace SagePtq.Tasks;

/// <summary>
/// Resolves each <c>SagePtqModel</c> item to its checkpoint folder and computes the hash of
/// everything that decides its pack (written to <c>inputs.hash</c> only when it changes, so that
/// the quantize target's Inputs/Outputs check can use it). A model that cannot be found is error SPQ2001.
/// </summary>
public sealed class SagePtqResolveModels : Microsoft.Build.Utilities.Task
{
    /// <summary>The <c>SagePtqModel</c> items: the Include is the model ID.</summary>
    [Required]
    public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

    /// <summary>The consuming project's folder; relative <c>Path</c> and <c>Calibration</c> metadata start here.</summary>
    [Required]
    public string ProjectDirectory { get; set; } = "";

    /// <summary>The folder under which each model gets its output folder <c>{ID}/</c> (<c>$(IntermediateOutputPath)sageptq/</c>).</summary>
    [Required]
    public string OutputRoot { get; set; } = "";

    /// <summary>The quantizer dll (<c>$(SagePtqQuantizerPath)</c>); its content enters the input hash.</summary>
    [Required]
    public string QuantizerPath { get; set; } = "";

    /// <summary><c>$(SagePtqModelsDir)</c>: a folder of checkpoints named by ID (optional).</summary>
    public string ModelsDir { get; set; } = "";

    /// <summary><c>$(HF_HOME)</c>; when empty, the environment variable of that name is read.</summary>
    public string HfHome { get; set; } = "";

    /// <summary><c>$(SagePtqBuiltInModelsDir)</c>: the models that ship with SagePtq.</summary>
    public string BuiltInModelsDir { get; set; } = "";

    /// <summary>One item per model (Include = ID) with the resolved metadata; see docs/msbuild.md.</summary>
    [Output]
    public ITaskItem[] ResolvedModels { get; private set; } = Array.Empty<ITaskItem>();

    /// <summary>Per model, the files whose time stamps decide whether it is stale: the hash file, the checkpoint files and the calibration text, each with the model's metadata.</summary>
    [Output]
    public ITaskItem[] ModelInputs { get; private set; } = Array.Empty<ITaskItem>();

    /// <inheritdoc />
    public override bool Execute()
    {
        if (!File.Exists(QuantizerPath))
        {
            Log.LogError(null, ErrorCodes.QuantizerMissing, null, null, 0, 0, 0, 0,
                "SagePtq: the quantizer '{0}' does not exist; set SagePtqQuantizerPath to the sageptq.dll to use.", QuantizerPath);
            return false;
        }

        var settings = new ModelSearchSettings
        {
            ProjectDir = ProjectDirectory,
            ModelsDir = ModelsDir.Trim(),
            HfHome = FirstNonEmpty(HfHome, Environment.GetEnvironmentVariable("HF_HOME")),
            DefaultHfHome = DefaultHuggingFaceHome(),
            BuiltInModelsDir = BuiltInModelsDir.Trim(),
        };

        var resolved = new List<ITaskItem>();
        var inputs = new List<ITaskItem>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var model in Models)
        {
            string id = model.ItemSpec.Trim();
            if (!seen.Add(id))
            {
                LogBadMetadata(id, "is listed twice; each SagePtqModel ID may appear once.");
                continue;
            }
            var item = Resolve(model, id, settings);
            if (item is null) continue;
            resolved.Add(item);
            inputs.AddRange(InputsOf(item));
        }

        ResolvedModels = resolved.ToArray();
        ModelInputs = inputs.ToArray();
        return !Log.HasLoggedErrors;
    }

    private ITaskItem? Resolve(ITaskItem model, string id, ModelSearchSettings settings)
    {
        if (id.Length == 0 || id.Split('/', '\\').Any(part => part.Length == 0 || part == "." || part == "..")
            || id.IndexOfAny(Path.GetInvalidPathChars()) >= 0)
        {
            LogBadMetadata(id, "is not a usable model ID (use a name such as 'sagelm-7m' or 'org/name').");
            return null;
        }

        var search = ModelLocator.Find(id, model.GetMetadata("Path"), settings);
        if (search.CheckpointDir is null)
        {
            Log.LogError(null, ErrorCodes.ModelNotFound, null, null, 0, 0, 0, 0,
                "SagePtq: model '{0}' was not found (a checkpoint folder has a config.json). Looked at: {1}. " +
                "Set the item's Path metadata, SagePtqModelsDir, or HF_HOME.",
                id, string.Join("; ", search.PlacesLookedAt));
            return null;
        }

        string packMode = model.GetMetadata("PackMode").Trim();
        if (packMode.Length > 0 && !packMode.Equals("Embed", StringComparison.OrdinalIgnoreCase) && !packMode.Equals("Copy", StringComparison.OrdinalIgnoreCase))
        {
            LogBadMetadata(id, $"has PackMode '{packMode}'; use Embed, Copy, or leave it empty (Embed below $(SagePtqEmbedLimitBytes), else Copy).");
            return null;
        }
        packMode = packMode.Length == 0 ? "" : char.ToUpperInvariant(packMode[0]) + packMode.Substring(1).ToLowerInvariant();

        string options;
        try { options = InputHash.NormalizeOptions(model.GetMetadata("Options")); }
        catch (ArgumentException e)
        {
            LogBadMetadata(id, $"has Options '{model.GetMetadata("Options")}': {FirstSentence(e.Message)}; write key=value;key=value.");
            return null;
        }

        string calibration = model.GetMetadata("Calibration").Trim();
        if (calibration.Length > 0)
        {
            calibration = Path.GetFullPath(Path.Combine(ProjectDirectory, calibration));
            if (!File.Exists(calibration))
            {
                LogBadMetadata(id, $"has Calibration '{calibration}', which does not exist.");
                return null;
            }
        }

        string method = FirstNonEmpty(model.GetMetadata("Method"), "sage");
        string outputDir = Path.Combine(Path.GetFullPath(OutputRoot), id.Replace('\\', '/')).Replace('\\', '/').TrimEnd('/') + "/";
        var quantizeInputs = new QuantizeInputs
        {
            Method = method,
            Options = options,
            Bits = model.GetMetadata("Bits").Trim(),
            Seed = model.GetMetadata("Seed").Trim(),
            Embeddings = model.GetMetadata("Embeddings").Trim(),
            QuantizerPath = QuantizerPath,
            CalibrationPath = calibration,
            CheckpointDir = search.CheckpointDir,
        };
        string hash = InputHash.Compute(quantizeInputs);
        string hashFile = outputDir + InputHash.FileName;
        InputHash.WriteIfChanged(hashFile, hash);

        var item = new TaskItem(id);
        item.SetMetadata("ModelId", id);
        item.SetMetadata("CheckpointDir", search.CheckpointDir);
        item.SetMetadata("Method", method);
        item.SetMetadata("Options", options);
        item.SetMetadata("Bits", quantizeInputs.Bits);
        item.SetMetadata("Seed", quantizeInputs.Seed);
        item.SetMetadata("Embeddings", quantizeInputs.Embeddings);
        item.SetMetadata("Calibration", calibration);
        item.SetMetadata("PackMode", packMode);
        item.SetMetadata("ClassName", model.GetMetadata("ClassName").Trim());
        item.SetMetadata("Namespace", model.GetMetadata("Namespace").Trim());
        item.SetMetadata("OutputDir", outputDir);
        item.SetMetadata("InputHash", hash);
        item.SetMetadata("InputsHashFile", hashFile);
        item.SetMetadata("PackPath", outputDir + OutputFiles.Pack);
        item.SetMetadata("ManifestPath", outputDir + OutputFiles.Manifest);
        Log.LogMessage(MessageImportance.Low, "SagePtq: model '{0}' is {1} (input hash {2}).", id, search.CheckpointDir, hash);
        return item;
    }

    private static IEnumerable<ITaskItem> InputsOf(ITaskItem model)
    {
        var files = new List<string> { model.GetMetadata("InputsHashFile") };
        files.AddRange(InputHash.CheckpointFiles(model.GetMetadata("CheckpointDir")).Select(f => f.FullName));
        if (model.GetMetadata("Calibration").Length > 0) files.Add(model.GetMetadata("Calibration"));
        foreach (string file in files)
        {
            var input = new TaskItem(file);
            model.CopyMetadataTo(input);
            yield return input;
        }
    }

    private void LogBadMetadata(string id, string problem) =>
        Log.LogError(null, ErrorCodes.BadMetadata, null, null, 0, 0, 0, 0, "SagePtq: SagePtqModel '{0}' {1}", id, problem);

    private static string DefaultHuggingFaceHome()
    {
        // The Hugging Face hub's own rule: $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
        string xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME") ?? "";
        if (xdg.Length > 0) return Path.Combine(xdg, "huggingface");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return home.Length == 0 ? "" : Path.Combine(home, ".cache", "huggingface");
    }

    private static string FirstNonEmpty(string? first, string? second) =>
        !string.IsNullOrWhiteSpace(first) ? first!.Trim() : (second ?? "").Trim();

    private static string FirstSentence(string message)
    {
        int paren = message.IndexOf(" (Parameter", StringComparison.Ordinal);
        return paren > 0 ? message.Substring(0, paren) : message;
    }
}
