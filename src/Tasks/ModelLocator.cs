using System.Collections.Generic;

namespace SagePtq.Tasks;

/// <summary>Where <see cref="ModelLocator"/> looks for a checkpoint; every folder may be empty (not configured).</summary>
internal sealed class ModelSearchSettings
{
    /// <summary>The consuming project's folder: a relative <c>Path</c> metadata is taken from here.</summary>
    public string ProjectDir { get; set; } = "";

    /// <summary><c>$(SagePtqModelsDir)</c>: a folder of checkpoints named by ID.</summary>
    public string ModelsDir { get; set; } = "";

    /// <summary><c>$(HF_HOME)</c>: the Hugging Face home whose <c>hub/</c> holds the cache.</summary>
    public string HfHome { get; set; } = "";

    /// <summary>The default Hugging Face home (<c>~/.cache/huggingface</c>, or under <c>$XDG_CACHE_HOME</c>).</summary>
    public string DefaultHfHome { get; set; } = "";

    /// <summary><c>$(SagePtqBuiltInModelsDir)</c>: the models that ship with SagePtq.</summary>
    public string BuiltInModelsDir { get; set; } = "";
}

/// <summary>The outcome of a search: the checkpoint folder, or null with every place that was looked at.</summary>
internal sealed class ModelSearchResult
{
    public ModelSearchResult(string? checkpointDir, IReadOnlyList<string> placesLookedAt)
    {
        CheckpointDir = checkpointDir;
        PlacesLookedAt = placesLookedAt;
    }

    public string? CheckpointDir { get; }

    public IReadOnlyList<string> PlacesLookedAt { get; }
}

/// <summary>
/// Finds the checkpoint folder (one with a <c>config.json</c>) of a <c>SagePtqModel</c> item:
/// the <c>Path</c> metadata alone when given; else <c>$(SagePtqModelsDir)/ID</c>, the Hugging Face
/// cache under <c>$(HF_HOME)</c>, the default Hugging Face cache, and the built-in models, in this order.
/// </summary>
internal static class ModelLocator
{
    private const string ConfigFileName = "config.json";

    /// <summary>Short names for well-known Hugging Face repositories.</summary>
    public static readonly IReadOnlyDictionary<string, string> Aliases = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["llama2-7b"] = "meta-llama/Llama-2-7b-hf",
        ["llama2-13b"] = "meta-llama/Llama-2-13b-hf",
        ["llama3-8b"] = "meta-llama/Meta-Llama-3-8B",
    };

    /// <summary>The models that ship with SagePtq, under <see cref="ModelSearchSettings.BuiltInModelsDir"/>.</summary>
    public static readonly IReadOnlyCollection<string> BuiltInModels = new[] { "sagelm-7m" };

    public static ModelSearchResult Find(string id, string? pathMetadata, ModelSearchSettings settings)
    {
        if (string.IsNullOrWhiteSpace(id)) throw new ArgumentException("A SagePtqModel item needs an ID (its Include).", nameof(id));
        var looked = new List<string>();

        if (!string.IsNullOrWhiteSpace(pathMetadata))
        {
            // An explicit path is the only place: falling back elsewhere would hide a typo.
            string dir = Path.GetFullPath(Path.Combine(settings.ProjectDir, pathMetadata!.Trim()));
            return Check(dir, looked) ? new ModelSearchResult(dir, looked) : new ModelSearchResult(null, looked);
        }

        if (settings.ModelsDir.Length > 0 && Check(Path.GetFullPath(Path.Combine(settings.ModelsDir, id)), looked))
            return new ModelSearchResult(looked[looked.Count - 1], looked);

        string repo = Aliases.TryGetValue(id, out var aliased) ? aliased : id;
        foreach (string home in new[] { settings.HfHome, settings.DefaultHfHome })
        {
            if (home.Length == 0) continue;
            string? found = FindInHuggingFaceCache(Path.GetFullPath(home), repo, looked);
            if (found is not null) return new ModelSearchResult(found, looked);
        }

        if (settings.BuiltInModelsDir.Length > 0 && BuiltInModels.Contains(id, StringComparer.OrdinalIgnoreCase)
            && Check(Path.GetFullPath(Path.Combine(settings.BuiltInModelsDir, id.ToLowerInvariant())), looked))
            return new ModelSearchResult(looked[looked.Count - 1], looked);

        return new ModelSearchResult(null, looked);
    }

    /// <summary>
    /// The snapshot of <paramref name="repo"/> in the cache layout <c>hub/models--{org}--{name}/snapshots/{rev}/</c>:
    /// the revision <c>refs/main</c> names when it holds a config.json, else the newest snapshot that does.
    /// </summary>
    private static string? FindInHuggingFaceCache(string hfHome, string repo, List<string> looked)
    {
        string repoDir = Path.Combine(hfHome, "hub", "models--" + repo.Replace("/", "--"));
        string snapshots = Path.Combine(repoDir, "snapshots");
        string refMain = Path.Combine(repoDir, "refs", "main");
        if (File.Exists(refMain))
        {
            string revision = File.ReadAllText(refMain).Trim();
            if (revision.Length > 0 && revision.IndexOfAny(Path.GetInvalidFileNameChars()) < 0 && Check(Path.Combine(snapshots, revision), looked))
                return looked[looked.Count - 1];
        }

        looked.Add(Path.Combine(snapshots, "*"));
        if (!Directory.Exists(snapshots)) return null;
        return new DirectoryInfo(snapshots).GetDirectories()
            .Where(d => File.Exists(Path.Combine(d.FullName, ConfigFileName)))
            .OrderByDescending(d => d.LastWriteTimeUtc).ThenByDescending(d => d.Name, StringComparer.Ordinal)
            .Select(d => d.FullName)
            .FirstOrDefault();
    }

    private static bool Check(string dir, List<string> looked)
    {
        looked.Add(dir);
        return File.Exists(Path.Combine(dir, ConfigFileName));
    }
}
