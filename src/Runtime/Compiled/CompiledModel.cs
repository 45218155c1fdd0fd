using System.Reflection;
using System.Security.Cryptography;
using SagePtq.Runtime.Cpu;
using SagePtq.Runtime.Packing;

namespace SagePtq.Runtime.Compiled;

/// <summary>
/// Opens the pack a generated model class was built with, and runs it with that class's layers.
/// The build puts the pack either beside the assembly or inside it (see <see cref="CompiledPackLocation"/>);
/// whichever is present is read in place, and it must be the pack of the manifest the class was
/// generated from (its SHA-256 is compiled into the class).
/// </summary>
public static class CompiledModel
{
    /// <summary>
    /// Finds the pack of <paramref name="plan"/>'s model for <paramref name="assembly"/>, checks the
    /// manifest's SHA-256 against <see cref="ModelPlan.ManifestSha256"/> and every layer's plan against
    /// the manifest, and returns a model whose CPU forward pass runs <paramref name="layers"/>[i] for
    /// decoder layer i. <see cref="ModelBackend.Reference"/> and <see cref="ModelBackend.Cuda"/> run their
    /// own forward passes over the same pack (the plans are checked all the same).
    /// </summary>
    /// <exception cref="ModelFileException">The pack is missing, altered, or not the one the class was generated for.</exception>
    public static LanguageModel Open(Assembly assembly, ModelPlan plan, IReadOnlyList<CpuLayerForward> layers, LanguageModelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(layers);
        if (layers.Count != plan.Layers.Count)
            throw new ArgumentException($"{layers.Count} layer forward passes for the {plan.Layers.Count} layers of the plan", nameof(layers));
        options ??= new LanguageModelOptions();

        var location = CompiledPackLocation.Find(assembly, plan.ModelId);
        string actual = Convert.ToHexStringLower(SHA256.HashData(location.ManifestBytes));
        if (!string.Equals(actual, plan.ManifestSha256, StringComparison.Ordinal))
            throw new ModelFileException(location.ManifestName,
                $"has SHA-256 {actual}, but the model class was generated from a manifest with SHA-256 {plan.ManifestSha256}: rebuild the project so that its generated code and its pack match");

        var pack = location.Open(new PackReadOptions { VerifyPayloadChecksum = options.VerifyPayloadChecksum });
        var compiled = new CpuModel.CompiledLayers(plan.Layers, layers);
        try
        {
            // Checked whichever backend runs: the class's constants must be the pack's.
            compiled.CheckAgainst(pack);
        }
        catch
        {
            pack.Dispose();
            throw;
        }
        return LanguageModel.Open(pack, location.ManifestName, options.ModelId ?? plan.ModelId, options, compiled);
    }
}
