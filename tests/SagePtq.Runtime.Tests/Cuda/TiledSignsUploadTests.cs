using SagePtq.Runtime.Cuda.Model;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Runtime.Tests.Cpu;
using SagePtq.Runtime.Tests.Packing;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cuda;

/// <summary>
/// The CUDA backend keeps plane-order sign rows on the device: a row-tiled <c>signs</c> section
/// (<see cref="SageFlags.TiledSigns"/>) is untiled on the host before the upload, and the bit never reaches
/// the kernels' FLAGS constant.
/// </summary>
public sealed class TiledSignsUploadTests
{
    [Fact]
    public void The_bytes_handed_to_the_upload_for_a_tiled_linear_are_the_untiled_ones()
    {
        var c = new SageCase("upload", 33, 300, 2, 1, 4, 4, Offsets: true);
        var plain = SageTestPack.Build(c, seed: 5);
        var tiled = plain with { Flags = plain.Flags | SageFlags.TiledSigns };
        using var dir = TestAssets.NewTempDir();
        using (var writer = PackWriter.Create(dir.Path, TestPacks.Config, TestPacks.Tokenizer, "tiled-upload-test"))
        {
            writer.AddLinear("plain", SageLayout.Encode(plain), new LinearStats(2, 4.0 / 300, 33 * 4, 4, 1.1));
            writer.AddLinear("tiled", SageLayout.Encode(tiled), new LinearStats(2, 4.0 / 300, 33 * 4, 4, 1.1));
            writer.Commit();
        }
        using var pack = PackedModel.Open(dir.Path);
        var record = pack.Manifest.FindLinear("tiled")!;
        Assert.Equal(pack.Manifest.FindLinear("plain")!.Sections.Select(s => s.Name), record.Sections.Select(s => s.Name));
        for (int k = 0; k < record.Sections.Count; k++)
        {
            var stored = pack.GetTensorBytes(PackFormat.SectionTensorName("tiled", record.Sections[k].Name)).ToArray();
            var uploaded = PackSections.Of(pack, "tiled", k).ToArray();
            Assert.Equal(PackSections.Of(pack, "plain", k).ToArray(), uploaded);
            if (record.Sections[k].Name == "signs") Assert.NotEqual(stored, uploaded);   // the stored section is tiled
            else Assert.Equal(stored, uploaded);
        }
    }

    [Fact]
    public void The_tiled_signs_flag_is_masked_out_of_the_cuda_constants()
    {
        var (manifest, sha) = CudaSourceBuilderTests.Fixture();
        var tiled = manifest;
        foreach (var linear in manifest.Linears.Where(l => l.Layout == SageLayout.LayoutName))
            tiled = CudaSourceBuilderTests.WithParameters(tiled, linear.Name, p => p["flags"] |= (int)SageFlags.TiledSigns);
        Assert.Contains(tiled.Linears, l => l.Parameters.TryGetValue("flags", out int f) && (f & (int)SageFlags.TiledSigns) != 0);
        var plainBuilder = new CudaSourceBuilder(manifest, "m", sha);
        var tiledBuilder = new CudaSourceBuilder(tiled, "m", sha);
        Assert.Equal(plainBuilder.LayerSources().Select(l => l.Source), tiledBuilder.LayerSources().Select(l => l.Source));
        var head = CudaSourceBuilderTests.LmHeadOf(manifest);
        Assert.Equal(plainBuilder.BackendSource(head), tiledBuilder.BackendSource(head));
        for (int layer = 0; layer < manifest.Architecture.NumLayers; layer++)
            Assert.Equal(plainBuilder.LayerDecodeSource(layer).Source, tiledBuilder.LayerDecodeSource(layer).Source);
        foreach (var linear in manifest.Linears.Where(l => l.Layout == SageLayout.LayoutName))
            Assert.Equal(CudaSourceBuilder.TemplateArguments(linear), CudaSourceBuilder.TemplateArguments(tiled.FindLinear(linear.Name)!));
    }
}
