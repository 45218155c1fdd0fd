using SagePtq.Generator.Emit;
using SagePtq.Generator.Model;
using SagePtq.Generator.Parsing;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>
/// Every file the generator emits for the two fixtures, against Snapshots/*.verified.cs, and the CUDA
/// source of every string constant against Snapshots/*.verified.cu (real .cu files clang can check).
/// Update with SAGEPTQ_ACCEPT_SNAPSHOTS=1 after reviewing the diff.
/// </summary>
public sealed class SnapshotTests
{
    public static TheoryData<string, string> GeneratedFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var (fixture, item) in All())
        {
            foreach (var source in GeneratorHarness.Run(item).GeneratedSources)
                data.Add(fixture, source.HintName);
        }
        return data;
    }

    public static TheoryData<string, string> CudaSources()
    {
        var data = new TheoryData<string, string>();
        foreach (var (fixture, item) in All())
        {
            var model = Model(item);
            data.Add(fixture, "Kernels");
            foreach (var layer in model.Layers) data.Add(fixture, "Layer" + model.LayerNumber(layer.Index));
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(GeneratedFiles))]
    public void Generated_csharp_matches_the_verified_snapshot(string fixture, string hintName)
    {
        var result = GeneratorHarness.Run(Item(fixture));
        Assert.Empty(result.Diagnostics);
        var source = result.GeneratedSources.Single(s => s.HintName == hintName);
        Snapshot.Verify(source.SourceText.ToString(), hintName[..^".g.cs".Length], "cs");
    }

    [Theory]
    [MemberData(nameof(CudaSources))]
    public void Generated_cuda_matches_the_verified_snapshot(string fixture, string part)
    {
        var model = Model(Item(fixture));
        var text = part == "Kernels"
            ? ModelCudaEmitter.ModelSource(model)
            : LayerCudaEmitter.CudaSource(model, model.Layers.Single(l => "Layer" + model.LayerNumber(l.Index) == part));
        Snapshot.Verify(text, $"{model.ClassName}.{part}", "cu");
    }

    [Fact]
    public void Every_model_gets_the_contracts_file_set()
    {
        var names = GeneratorHarness.Run(Fixtures.SageLm7m).GeneratedSources.Select(s => s.HintName).Order(StringComparer.Ordinal).ToArray();
        var expected = new List<string> { "SageLm7mModel.Cuda.g.cs", "SageLm7mModel.g.cs" };
        for (var i = 0; i < 6; i++)
        {
            expected.Add($"SageLm7mModel.Layer{i:00}.Cuda.g.cs");
            expected.Add($"SageLm7mModel.Layer{i:00}.g.cs");
        }
        Assert.Equal(expected.Order(StringComparer.Ordinal), names);
    }

    internal static IEnumerable<(string Fixture, ManifestItem Item)> All() => [("tiny", Fixtures.Tiny), ("sagelm-7m", Fixtures.SageLm7m)];

    internal static ManifestItem Item(string fixture) => All().Single(f => f.Fixture == fixture).Item;

    internal static ModelSpec Model(ManifestItem item)
    {
        var parsed = ManifestParser.Parse(new ManifestInput(item.Path, item.Text, item.ModelId, item.ClassName, item.Namespace, item.PackMode), default);
        return parsed.Model ?? throw new InvalidOperationException(string.Join("; ", parsed.Diagnostics.Select(d => string.Join(", ", d.Arguments))));
    }
}
