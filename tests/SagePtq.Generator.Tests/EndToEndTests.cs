using System.Reflection;
using System.Runtime.Loader;
using Microsoft.CodeAnalysis;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Quantizer.Synthetic;
using SagePtq.Runtime;
using SagePtq.Runtime.Compiled;
using SagePtq.Tests;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>
/// The generated class runs: a synthetic two-layer pack is written, the generator runs on its
/// manifest, the consuming assembly is compiled to disk with the pack copied beside it (PackMode
/// Copy), loaded, and its <c>Forward</c> gives the logits the runtime gives for the same pack.
/// </summary>
public sealed class EndToEndTests
{
    private const string Runner = """
        public static class Runner
        {
            public static float[] Logits(int[] tokens)
            {
                using var model = new global::QuickStart.TinyLlamaModel(new global::SagePtq.Runtime.LanguageModelOptions { Threads = 1 });
                return model.Forward(tokens);
            }
        }
        """;

    [Fact]
    public void The_generated_class_opens_its_pack_and_matches_the_runtime()
    {
        using var dir = TestAssets.NewTempDir();
        const string modelId = "tiny-llama";
        var packDir = CompiledPackLocation.CopiedFolder(dir.Path, modelId);
        SyntheticPack.Write(packDir, SyntheticShape.Parse("tiny"), seed: 7, bits: 1.1, EmbeddingQuantization.Fp16);
        var manifestText = File.ReadAllText(Path.Combine(packDir, "model.manifest.json"), new System.Text.UTF8Encoding(false));

        var item = new ManifestItem("obj/sageptq/tiny-llama/model.manifest.json", manifestText, modelId, PackMode: "Copy");
        var compilation = GeneratorHarness.Compilation(CompileTests.References(), Runner);
        GeneratorHarness.Driver([item]).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        Assert.Empty(generatorDiagnostics);
        var assemblyPath = Path.Combine(dir.Path, "Consumer.dll");
        var emitted = output.Emit(assemblyPath);
        Assert.True(emitted.Success, string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));

        int[] tokens = [1, 17, 42, 5, 99];
        float[] expected;
        using (var runtime = LanguageModel.Open(packDir, new LanguageModelOptions { Threads = 1 }))
            expected = runtime.Forward(tokens);

        // A collectible context for the consumer; SagePtq.Runtime resolves to the test's own copy.
        var context = new AssemblyLoadContext("generated-consumer", isCollectible: true);
        try
        {
            var assembly = context.LoadFromAssemblyPath(assemblyPath);
            var logits = (float[])assembly.GetType("Runner")!.GetMethod("Logits")!.Invoke(null, [tokens])!;
            Assert.Equal(expected.Length, logits.Length);
            for (var i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(expected[i] - logits[i]) <= 1e-4f * (1 + Math.Abs(expected[i])), $"logit {i}: {logits[i]} vs {expected[i]}");

            // The compiled hash check is live: a manifest that is not the generated one is refused.
            File.AppendAllText(Path.Combine(packDir, "model.manifest.json"), " ");
            var error = Assert.Throws<TargetInvocationException>(() => assembly.GetType("Runner")!.GetMethod("Logits")!.Invoke(null, [tokens]));
            Assert.IsType<ModelFileException>(error.InnerException);
            Assert.Contains("rebuild the project", error.InnerException!.Message, StringComparison.Ordinal);
        }
        finally
        {
            context.Unload();
        }
    }
}
