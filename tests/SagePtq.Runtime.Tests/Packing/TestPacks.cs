using System.Text;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Packing;
using SagePtq.Runtime.Packing.Layouts;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Packing;

/// <summary>Builds small packs for the packing tests: the tiny test config, seeded weights, every linear f16 plus one multi-section linear.</summary>
internal static class TestPacks
{
    public const string Method = "test-method";

    /// <summary>A linear with a layout no decoder knows, to exercise parameters and several sections.</summary>
    public const string ExtraLinear = "extra.linear";

    public static ModelConfig Config { get; } = ModelConfig.Parse(new TinyCheckpoint().Config.ToJsonString(), "config.json");

    public static byte[] Tokenizer { get; } = Encoding.UTF8.GetBytes("{\"model\": {\"type\": \"BPE\"}, \"note\": \"test tokenizer\"}");

    public static PackContents Contents(int seed = 7)
    {
        var random = new Random(seed);
        float[] Values(long count) => Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();

        var tensors = new Dictionary<string, (float[], long[])>();
        var linears = new Dictionary<string, (LinearPayload, LinearStats)>();
        foreach (var (name, shape) in LlamaTensors.Expected(Config))
        {
            long count = shape.Aggregate(1L, (a, b) => a * b);
            bool isLayerLinear = name.StartsWith("model.layers.", StringComparison.Ordinal) && shape.Length == 2;
            if (isLayerLinear)
                linears[name] = (F16Layout.Encode(Values(count), (int)shape[0], (int)shape[1]).Payload, F16Layout.Stats);
            else
                tensors[name] = (Values(count), shape);
        }
        var sections = new[] { new PayloadSection("signs", [1, 2, 3, 4, 5]), new PayloadSection("scales", new byte[70]) };
        linears[ExtraLinear] = (new LinearPayload("test-layout", 4, 8, new Dictionary<string, int> { ["k"] = 2, ["bits"] = 1 }, sections),
            new LinearStats(2, 0.25, 8, 2, 1.5));
        return new PackContents
        {
            Config = Config,
            TokenizerJson = Tokenizer,
            Method = Method,
            MethodOptions = new Dictionary<string, string> { ["zeta"] = "1", ["alpha"] = "x" },
            Tensors = tensors,
            Linears = linears,
        };
    }

    public static PackManifest Write(string directory, int seed = 7) => PackWriter.Write(directory, Contents(seed));

    public static string PackPath(string directory) => Path.Combine(directory, PackFormat.PackFileName);
    public static string ManifestPath(string directory) => Path.Combine(directory, PackFormat.ManifestFileName);
}
