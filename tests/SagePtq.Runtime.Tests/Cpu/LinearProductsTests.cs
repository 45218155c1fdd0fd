using SagePtq.Runtime.Cpu;

namespace SagePtq.Runtime.Tests.Cpu;

/// <summary>
/// <see cref="LinearProducts"/>: the prepares run inside the parallel loop, on whichever thread claims them, and
/// the outputs are the bits of preparing and multiplying each linear alone on one thread.
/// </summary>
public sealed class LinearProductsTests(SageTestPack fixture) : IClassFixture<SageTestPack>
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void Products_sharing_an_input_equal_each_linear_alone(int threads)
    {
        // Three 704-column linears (rotated, offsets, salient rows) and two 256-column ones, a batch of three tokens.
        string[][] groups = [["r17-c704-zero-salient-rows", "r1-c704-offsets-rotated", "r17-c704-zero-salient-rows"], ["r17-c256-rotated", "r64-c256"]];
        using var pool = new WorkerPool(threads);
        var products = new LinearProducts();
        foreach (var names in groups)
        {
            var linears = names.Select(n => (CpuLinear)SageCpuLinear.Create(fixture.Pack, n, 3)).ToArray();
            var alone = names.Select(n => (CpuLinear)SageCpuLinear.Create(fixture.Pack, n, 3)).ToArray();
            try
            {
                int cols = linears[0].Cols;
                var random = new Random(cols);
                var input = Enumerable.Range(0, 3 * cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                var expected = alone.Select(l => new float[3 * l.Rows]).ToArray();
                for (int i = 0; i < alone.Length; i++) alone[i].MultiplyAll(input, 3, expected[i]);
                for (int repeat = 0; repeat < 50; repeat++)
                {
                    var outputs = linears.Select(l => new float[3 * l.Rows]).ToArray();
                    products.Run(pool, input, 3, linears, outputs);
                    for (int i = 0; i < linears.Length; i++) Assert.Equal(expected[i], outputs[i]);
                }
            }
            finally
            {
                foreach (var l in linears.Concat(alone)) l.Dispose();
            }
        }
    }

    [Fact]
    public void A_prepare_that_fails_is_reported_from_the_loop_and_the_next_run_works()
    {
        using var pool = new WorkerPool(2);
        var products = new LinearProducts();
        using var first = SageCpuLinear.Create(fixture.Pack, "r64-c256", 2);
        using var second = SageCpuLinear.Create(fixture.Pack, "r17-c256-rotated", 2);
        var outputs = new[] { new float[2 * 64], new float[2 * 17] };
        // Three tokens where the linears take at most two: each Prepare refuses them.
        Assert.Throws<ArgumentOutOfRangeException>(() => products.Run(pool, new float[3 * 256], 3, [first, second], outputs));
        products.Run(pool, new float[2 * 256], 2, [first, second], outputs);
        Assert.All(outputs, o => Assert.All(o, v => Assert.Equal(0f, v)));   // a zero input gives zero outputs
        Assert.Throws<ArgumentException>(() => products.Run(pool, new float[256], 1, [first, second], [outputs[0]]));
    }
}
