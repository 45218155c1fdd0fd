using System.Text;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Tests;

namespace SagePtq.Cuda.Tests;

/// <summary>
/// Writes payloads into a real pack and opens it, so that the production CPU kernels (SageCpuLinear,
/// UniformCpuLinear) can run on the same bytes the CUDA math read.
/// </summary>
internal sealed class CpuKernelPack : IDisposable
{
    private static readonly ModelConfig Config = ModelConfig.Parse(new TinyCheckpoint().Config.ToJsonString(), "config.json");
    private readonly TempDir _directory = TestAssets.NewTempDir();

    public CpuKernelPack(IReadOnlyDictionary<string, LinearPayload> linears)
    {
        using (var writer = PackWriter.Create(_directory.Path, Config, Encoding.UTF8.GetBytes("{\"model\": {\"type\": \"BPE\"}}"), "cuda-kernel-test"))
        {
            foreach (var (name, payload) in linears) writer.AddLinear(name, payload, new LinearStats(1, 0, 0, 0, 1));
            writer.Commit();
        }
        Pack = PackedModel.Open(_directory.Path);
    }

    public PackedModel Pack { get; }

    public void Dispose()
    {
        Pack.Dispose();
        _directory.Dispose();
    }
}
