using System.Collections.Generic;
using System.Collections.Immutable;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using SagePtq.Generator.Diagnostics;
using SagePtq.Generator.Emit;
using SagePtq.Generator.Model;
using SagePtq.Generator.Parsing;

namespace SagePtq.Generator;

/// <summary>
/// Turns each SagePtq manifest (an AdditionalFiles item with <c>SagePtqModelId</c> metadata) into a
/// typed model class: <c>{Class}.g.cs</c>, <c>{Class}.Layer{NN}.g.cs</c>, <c>{Class}.Layer{NN}.Cuda.g.cs</c>
/// and <c>{Class}.Cuda.g.cs</c>. It reads nothing but the manifest text and the analyzer config.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class ModelGenerator : IIncrementalGenerator
{
    /// <summary>Tracking name of the step that picks the manifests out of AdditionalFiles.</summary>
    public const string ManifestInputsStep = "SagePtq.ManifestInputs";

    /// <summary>Tracking name of the step that parses a manifest into a model and diagnostics.</summary>
    public const string ParsedManifestsStep = "SagePtq.ParsedManifests";

    /// <summary>Tracking name of the step that keeps one model per class name.</summary>
    public const string UniqueModelsStep = "SagePtq.UniqueModels";

    /// <summary>Tracking name of the step that finds models sharing a class name.</summary>
    public const string DuplicateModelsStep = "SagePtq.DuplicateModels";

    private const string MetadataPrefix = "build_metadata.AdditionalFiles.";

    /// <inheritdoc />
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        // 1. Manifests: the AdditionalFiles that carry SagePtqModelId, with their metadata and text.
        //    Runs again only for a file (or the analyzer config) that changed; a C# edit touches neither.
        var manifests = context.AdditionalTextsProvider
            .Combine(context.AnalyzerConfigOptionsProvider)
            .Select(static (pair, ct) => ReadManifest(pair.Left, pair.Right, ct))
            .WithTrackingName(ManifestInputsStep)
            .Where(static input => input is not null)
            .Select(static (input, _) => input!);

        // 2. Parse each manifest into a value-equatable model plus diagnostics (plain values, no Location).
        var parsed = manifests
            .Select(static (input, ct) => ManifestParser.Parse(input, ct))
            .WithTrackingName(ParsedManifestsStep);

        // 3. One model per class name: the first manifest (by path) keeps it, the others get SPQ1006,
        //    so no two models ever emit the same hint names. SelectMany hands each model on by itself,
        //    so a change to one manifest re-emits only that model.
        var models = parsed
            .Select(static (p, _) => p.Model)
            .Where(static m => m is not null)
            .Collect();
        var uniqueModels = models
            .SelectMany(static (all, _) => Deduplicate(all!).Unique)
            .WithTrackingName(UniqueModelsStep);
        var duplicates = models
            .Select(static (all, _) => Deduplicate(all!).Duplicates)
            .WithTrackingName(DuplicateModelsStep);

        // 4. Output: source from the models only, diagnostics from their own pipelines, so a diagnostic
        //    never forces the source to be written again (the System.Text.Json generator's split).
        context.RegisterSourceOutput(uniqueModels, static (spc, model) => EmitModel(spc, model));
        context.RegisterSourceOutput(parsed.Select(static (p, _) => p.Diagnostics), static (spc, diagnostics) => Report(spc, diagnostics));
        context.RegisterSourceOutput(duplicates, static (spc, diagnostics) => Report(spc, diagnostics));
    }

    private static ManifestInput? ReadManifest(AdditionalText file, AnalyzerConfigOptionsProvider options, CancellationToken cancellationToken)
    {
        var fileOptions = options.GetOptions(file);
        if (!fileOptions.TryGetValue(MetadataPrefix + "SagePtqModelId", out var modelId) || string.IsNullOrWhiteSpace(modelId))
            return null;
        string? Metadata(string name) =>
            fileOptions.TryGetValue(MetadataPrefix + name, out var value) && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
        var ns = Metadata("SagePtqNamespace");
        if (ns is null && options.GlobalOptions.TryGetValue("build_property.RootNamespace", out var root) && !string.IsNullOrWhiteSpace(root))
            ns = root.Trim();
        // An unreadable file gives no text; the parser then reports it as malformed (SPQ1001).
        var text = file.GetText(cancellationToken)?.ToString() ?? "";
        return new ManifestInput(file.Path, text, modelId.Trim(), Metadata("SagePtqClassName"), ns, Metadata("SagePtqPackMode"));
    }

    private static (ImmutableArray<ModelSpec> Unique, EquatableArray<DiagnosticInfo> Duplicates) Deduplicate(ImmutableArray<ModelSpec?> all)
    {
        var sorted = new List<ModelSpec>();
        foreach (var model in all) sorted.Add(model!);
        // Deterministic: the winner does not depend on the order the compiler lists AdditionalFiles.
        sorted.Sort(static (x, y) => string.CompareOrdinal(x.ManifestPath, y.ManifestPath));
        var owners = new Dictionary<string, ModelSpec>(System.StringComparer.Ordinal);
        var unique = ImmutableArray.CreateBuilder<ModelSpec>();
        var duplicates = new List<DiagnosticInfo>();
        foreach (var model in sorted)
        {
            // Hint names are the class name alone, so a namespace does not keep two models apart, and
            // names that differ only in case would collide as file names on some file systems.
            var key = model.ClassName.ToUpperInvariant();
            if (owners.TryGetValue(key, out var owner))
            {
                duplicates.Add(new DiagnosticInfo("SPQ1006", model.ManifestPath, 0, 0, 0, 0, 0, 0, new EquatableArray<string>(new[]
                {
                    System.IO.Path.GetFileName(model.ManifestPath), model.ModelId, model.ClassName, owner.ModelId, owner.ManifestPath,
                })));
                continue;
            }
            owners.Add(key, model);
            unique.Add(model);
        }
        return (unique.ToImmutable(), new EquatableArray<DiagnosticInfo>(duplicates.ToArray()));
    }

    private static void EmitModel(SourceProductionContext context, ModelSpec model)
    {
        context.AddSource(ModelClassEmitter.HintName(model), SourceText.From(ModelClassEmitter.Emit(model), System.Text.Encoding.UTF8));
        foreach (var layer in model.Layers)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            context.AddSource(LayerEmitter.HintName(model, layer), SourceText.From(LayerEmitter.Emit(model, layer), System.Text.Encoding.UTF8));
            context.AddSource(LayerCudaEmitter.HintName(model, layer), SourceText.From(LayerCudaEmitter.Emit(model, layer), System.Text.Encoding.UTF8));
        }
        context.AddSource(ModelCudaEmitter.HintName(model), SourceText.From(ModelCudaEmitter.Emit(model), System.Text.Encoding.UTF8));
    }

    private static void Report(SourceProductionContext context, EquatableArray<DiagnosticInfo> diagnostics)
    {
        foreach (var info in diagnostics)
        {
            var location = Location.Create(info.FilePath, new TextSpan(info.Start, info.Length),
                new LinePositionSpan(new LinePosition(info.StartLine, info.StartColumn), new LinePosition(info.EndLine, info.EndColumn)));
            var args = new object[info.Arguments.Count];
            for (var i = 0; i < args.Length; i++) args[i] = info.Arguments[i];
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.ById(info.Id), location, args));
        }
    }
}
