using SagePtq.Tests;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SagePtq.Generator.Emit;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>
/// The emitted C# compiles against SagePtq.Runtime with nullable enabled and not one diagnostic (so
/// TreatWarningsAsErrors holds), the public API is what the contract names, and the CUDA string
/// constants hold exactly the verified .cu text.
/// </summary>
public sealed class CompileTests
{
    // Uses every public member of the contract, so a missing or mistyped one fails to compile.
    private const string Consumer = """
        #nullable enable
        using System.Collections.Generic;
        using System.Threading;
        using SagePtq.Runtime.Generation;

        public static class Consumer
        {
            public static async System.Threading.Tasks.Task<string> Use(CLASS model, CancellationToken ct)
            {
                string text = model.Generate("Once upon a time", new GenerationOptions(), ct);
                await foreach (string piece in model.GenerateAsync("Hello", null, ct)) text += piece;
                float[] logits = model.Forward(new[] { 1, 2, 3 });
                SagePtq.Runtime.Tokenization.Tokenizer tokenizer = model.Tokenizer;
                SagePtq.Runtime.Checkpoints.ModelConfig config = model.Config;
                SagePtq.Runtime.LanguageModel inner = model.Model;
                Microsoft.Extensions.AI.IChatClient chat = model.AsChatClient();
                string id = CLASS.ModelId + CLASS.ManifestSha256;
                SagePtq.Runtime.Compiled.ModelPlan plan = CLASS.Plan;
                IReadOnlyList<SagePtq.Runtime.Compiled.CpuLayerForward> layers = CLASS.Layers;
                using (var other = new CLASS(new SagePtq.Runtime.LanguageModelOptions { Threads = 1 })) { }
                System.IDisposable disposable = model;
                return text + logits.Length + tokenizer + config + inner + chat + id + plan + layers.Count + disposable;
            }
        }
        """;

    public static TheoryData<string> FixtureNames() => ["tiny", "sagelm-7m"];

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void The_emitted_code_compiles_without_a_single_diagnostic(string fixture)
    {
        var (compilation, result) = Compiled(fixture);
        Assert.Empty(result.Diagnostics);
        var diagnostics = compilation.GetDiagnostics().Where(d => d.Severity != DiagnosticSeverity.Hidden).ToList();
        Assert.True(diagnostics.Count == 0, string.Join("\n", diagnostics));
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void The_cuda_constants_hold_the_verified_cuda_text(string fixture)
    {
        var item = SnapshotTests.Item(fixture);
        var model = SnapshotTests.Model(item with { Namespace = item.Namespace ?? GeneratorHarness.DefaultRootNamespace });
        var (compilation, _) = Compiled(fixture);
        var prefix = (model.Namespace is null ? "" : model.Namespace + ".") + model.ClassName;
        foreach (var layer in model.Layers)
        {
            var type = compilation.GetTypeByMetadataName($"{prefix}+Layer{model.LayerNumber(layer.Index)}")!;
            var constant = (string)type.GetMembers("CudaSource").OfType<IFieldSymbol>().Single().ConstantValue!;
            Assert.Equal(LayerCudaEmitter.CudaSource(model, layer), constant);
            Assert.Equal(File.ReadAllText(SnapshotPath($"{model.ClassName}.Layer{model.LayerNumber(layer.Index)}.verified.cu")), constant);
        }
        var cuda = compilation.GetTypeByMetadataName(prefix + "+Cuda")!;
        Assert.Equal(File.ReadAllText(SnapshotPath($"{model.ClassName}.Kernels.verified.cu")),
            (string)cuda.GetMembers("ModelSource").OfType<IFieldSymbol>().Single().ConstantValue!);
        var header = Path.Combine(TestAssets.RepoRoot, "templates", "cuda", "sageptq.cuh");
        Assert.Equal(File.ReadAllText(header).ReplaceLineEndings("\n"), (string)cuda.GetMembers("Header").OfType<IFieldSymbol>().Single().ConstantValue!);
    }

    // Compiling is the slow part: each fixture's compilation is made once and shared by the tests.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<(Compilation, GeneratorRunResult)>> Compilations = new();

    private static (Compilation Compilation, GeneratorRunResult Result) Compiled(string fixture) =>
        Compilations.GetOrAdd(fixture, f => new Lazy<(Compilation, GeneratorRunResult)>(() => CompileWithGenerator(SnapshotTests.Item(f)))).Value;

    /// <summary>The consuming project's compilation after the generator ran, with a file that uses the class.</summary>
    internal static (Compilation Compilation, GeneratorRunResult Result) CompileWithGenerator(ManifestItem item, string? rootNamespace = GeneratorHarness.DefaultRootNamespace)
    {
        var model = SnapshotTests.Model(item with { Namespace = item.Namespace ?? rootNamespace });
        var qualified = (model.Namespace is null ? "" : "global::" + model.Namespace + ".") + model.ClassName;
        var compilation = GeneratorHarness.Compilation(References(), Consumer.Replace("CLASS", qualified, StringComparison.Ordinal))
            .WithOptions(new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999, generalDiagnosticOption: ReportDiagnostic.Default));
        var driver = GeneratorHarness.Driver([item], rootNamespace: rootNamespace)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        Assert.Empty(generatorDiagnostics);
        return (output, driver.GetRunResult().Results.Single());
    }

    /// <summary>What a consuming app references: the framework, SagePtq.Runtime and its dependencies (this test host's assemblies).</summary>
    internal static ImmutableArray<MetadataReference> References() => AllReferences.Value;

    private static readonly Lazy<ImmutableArray<MetadataReference>> AllReferences = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => !Path.GetFileName(p).StartsWith("SagePtq.Generator", StringComparison.Ordinal)
                        && !Path.GetFileName(p).StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray());

    private static string SnapshotPath(string fileName, [System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "Snapshots", fileName);
}
