using System.Collections.Generic;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace SagePtq.Tasks;

/// <summary>
/// For each resolved model whose pack and manifest exist (also in a design-time build, which never
/// quantizes), returns the manifest with the metadata the generator reads and the pack mode made
/// definite: the item's <c>PackMode</c> when given, else Embed below <see cref="EmbedLimitBytes"/> and Copy from it on.
/// </summary>
public sealed class SagePtqCollectOutputs : Microsoft.Build.Utilities.Task
{
    /// <summary>The <c>ResolvedModels</c> of <see cref="SagePtqResolveModels"/>.</summary>
    [Required]
    public ITaskItem[] ResolvedModels { get; set; } = Array.Empty<ITaskItem>();

    /// <summary><c>$(SagePtqEmbedLimitBytes)</c>: packs smaller than this are embedded when PackMode is empty.</summary>
    public long EmbedLimitBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>One item per model with a pack: the manifest's full path, with metadata <c>SagePtqModelId</c>, <c>SagePtqClassName</c>, <c>SagePtqNamespace</c>, <c>SagePtqPackMode</c> and <c>PackPath</c>.</summary>
    [Output]
    public ITaskItem[] Manifests { get; private set; } = Array.Empty<ITaskItem>();

    /// <inheritdoc />
    public override bool Execute()
    {
        var manifests = new List<ITaskItem>();
        foreach (var model in ResolvedModels)
        {
            string manifest = model.GetMetadata("ManifestPath"), pack = model.GetMetadata("PackPath");
            if (!File.Exists(manifest) || !File.Exists(pack)) continue;
            string mode = model.GetMetadata("PackMode");
            if (mode.Length == 0) mode = new FileInfo(pack).Length < EmbedLimitBytes ? "Embed" : "Copy";

            var item = new TaskItem(manifest);
            item.SetMetadata("SagePtqModelId", model.GetMetadata("ModelId"));
            item.SetMetadata("SagePtqClassName", model.GetMetadata("ClassName"));
            item.SetMetadata("SagePtqNamespace", model.GetMetadata("Namespace"));
            item.SetMetadata("SagePtqPackMode", mode);
            item.SetMetadata("PackPath", pack);
            manifests.Add(item);
        }
        Manifests = manifests.ToArray();
        return true;
    }
}
