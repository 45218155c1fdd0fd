using SagePtq.Quantizer.Methods;
using SagePtq.Quantizer.Pipeline;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Pipeline;

/// <summary>
/// The calibrated path twice over the same windows gives the same bytes: the window forwards (long
/// enough for the packed GEMM, with edge rows and a partial panel), the multi-threaded Hessian sums
/// and the methods' sweeps do not depend on thread timing.
/// </summary>
public sealed class CalibratedDeterminismTests
{
    [Theory]
    [InlineData("gptq")]
    [InlineData("sage")]
    public void Same_windows_give_the_same_payloads_twice(string method)
    {
        using var dir = TestAssets.NewTempDir();
        var tiny = new TinyCheckpoint();
        tiny.Config["hidden_size"] = 48;
        tiny.Config["intermediate_size"] = 40;
        tiny.Config["num_attention_heads"] = 4;
        tiny.Config["num_key_value_heads"] = 2;
        // The tensor list follows the edited config.
        tiny.Tensors.Clear();
        foreach (var (name, shape) in LlamaTensors.Expected(ModelConfig.Parse(tiny.Config.ToJsonString(), "config.json"))) tiny.Tensors[name] = shape;
        using var checkpoint = Checkpoint.Open(tiny.WriteTo(dir.Path));
        var random = new Random(11);
        int[][] windows = [.. Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 41).Select(_ => random.Next(32)).ToArray())];
        var options = method == "sage" ? MethodOptions.Parse(["bits=2.5"]) : new MethodOptions();

        var first = ModelQuantizer.Run(checkpoint, MethodCatalog.Create(method, options), windows, 7);
        var second = ModelQuantizer.Run(checkpoint, MethodCatalog.Create(method, options), windows, 7);

        Assert.Equal(first.Linears.Count, second.Linears.Count);
        for (int i = 0; i < first.Linears.Count; i++)
        {
            var (a, b) = (first.Linears[i].Quantized, second.Linears[i].Quantized);
            Assert.Equal(a.Payload.Sections.Count, b.Payload.Sections.Count);
            for (int s = 0; s < a.Payload.Sections.Count; s++) Assert.Equal(a.Payload.Sections[s].Bytes, b.Payload.Sections[s].Bytes);
            Assert.Equal(a.Dequantized, b.Dequantized);
        }
    }
}
