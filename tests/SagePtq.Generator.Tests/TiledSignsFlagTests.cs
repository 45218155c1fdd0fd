using SagePtq.Generator.Emit;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>
/// Bit 4 of a sage linear's flags (TiledSigns) orders the pack's sign bytes only: the CUDA backend untiles them
/// on upload, so the generated CUDA must be the same with and without it (only the manifest hash differs).
/// </summary>
public sealed class TiledSignsFlagTests
{
    [Fact]
    public void The_tiled_signs_flag_leaves_the_cuda_sources_unchanged()
    {
        var plain = Fixtures.SageLm7m;
        Assert.Contains("\"flags\": 0,", plain.Text, StringComparison.Ordinal);
        var tiled = plain with { Text = plain.Text.Replace("\"flags\": 0,", "\"flags\": 16,", StringComparison.Ordinal) };
        var plainModel = SnapshotTests.Model(plain);
        var tiledModel = SnapshotTests.Model(tiled);
        Assert.Contains(tiledModel.Layers[0].Linears, l => l.Parameters.Any(p => p.Key == "flags" && p.Value == 16));
        Assert.NotEqual(plainModel.ManifestSha256, tiledModel.ManifestSha256);
        foreach (var layer in plainModel.Layers)
        {
            var expected = LayerCudaEmitter.CudaSource(plainModel, layer).Replace(plainModel.ManifestSha256, "HASH", StringComparison.Ordinal);
            var actual = LayerCudaEmitter.CudaSource(tiledModel, tiledModel.Layers.Single(l => l.Index == layer.Index))
                .Replace(tiledModel.ManifestSha256, "HASH", StringComparison.Ordinal);
            Assert.Equal(expected, actual);
        }
    }
}
