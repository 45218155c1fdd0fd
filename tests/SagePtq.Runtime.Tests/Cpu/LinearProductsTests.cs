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
        // Three 704-column linears (rotated, offsets, salient rows), two 256-column ones and three 1,408-column ones,
        // whose single-token prepares are split into parts, as a batch of three tokens and as one token. The tiled
        // linear comes first, so that chunk boundaries (multiples of its 16-row tile) never cut one of its tiles: a
        // cut tile goes through the plane kernel, whose float rounding differs from the lookup tables'.
        string[][] groups =
        [
            ["r17-c704-zero-salient-rows", "r1-c704-offsets-rotated", "r17-c704-zero-salient-rows"], ["r17-c256-rotated", "r64-c256"],
            ["r49-c1408-tiled-all", "r64-c1408-all", "r3-c1408"],
        ];
        using var pool = new WorkerPool(threads);
        var products = new LinearProducts();
        foreach (int tokens in new[] { 3, 1 })
        foreach (var names in groups)
        {
            var linears = names.Select(n => (CpuLinear)SageCpuLinear.Create(fixture.Pack, n, 3)).ToArray();
            var alone = names.Select(n => (CpuLinear)SageCpuLinear.Create(fixture.Pack, n, 3)).ToArray();
            try
            {
                int cols = linears[0].Cols;
                var random = new Random(cols);
                var input = Enumerable.Range(0, tokens * cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                var expected = alone.Select(l => new float[tokens * l.Rows]).ToArray();
                for (int i = 0; i < alone.Length; i++) alone[i].MultiplyAll(input, tokens, expected[i]);
                for (int repeat = 0; repeat < 50; repeat++)
                {
                    var outputs = linears.Select(l => new float[tokens * l.Rows]).ToArray();
                    products.Run(pool, input, tokens, linears, outputs);
                    for (int i = 0; i < linears.Length; i++) Assert.Equal(expected[i], outputs[i]);
                }
            }
            finally
            {
                foreach (var l in linears.Concat(alone)) l.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("r64-c1408-all")]          // rotated, offsets, rows without salient weights, a short last block
    [InlineData("r49-c1408-tiled-all")]    // the same with tiled signs: lookup tables built part by part
    [InlineData("r5-c1100-nibbles")]
    public void A_prepare_split_into_parts_run_in_any_order_gives_the_bits_of_one_prepare(string name)
    {
        using var split = SageCpuLinear.Create(fixture.Pack, name, 2);
        using var whole = SageCpuLinear.Create(fixture.Pack, name, 2);
        var random = new Random(name.Length);
        var input = Enumerable.Range(0, 2 * split.Cols).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var expected = new float[whole.Rows];
        whole.MultiplyAll(input, 1, expected);

        int parts = split.BeginPrepare(input, 1);
        Assert.True(parts >= 2, $"{name}: {parts} parts");
        for (int part = parts - 1; part >= 0; part--) split.PreparePart(input, part);
        split.EndPrepare();
        var actual = new float[split.Rows];
        split.Multiply(actual, 0, split.Rows);
        Assert.Equal(expected, actual);

        // A batch is prepared in one piece.
        Assert.Equal(0, split.BeginPrepare(input, 2));
        Assert.Equal(2, split.PreparedTokens);
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
