using SagePtq.Runtime.Checkpoints;
using SagePtq.Runtime.Reference;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Reference;

/// <summary>
/// The calibration entry points (<see cref="ReferenceModel.Embed"/>, <see cref="ReferenceModel.RunLayer"/>)
/// walk the same computation as the full forward pass, and show each linear the input it reads.
/// </summary>
public sealed class LayerByLayerTests
{
    private readonly LlamaWeights _weights;
    private readonly ReferenceModel _model;

    public LayerByLayerTests()
    {
        using var checkpoint = Checkpoint.Open(TestAssets.EmbeddedModel);
        _weights = LlamaWeights.FromCheckpoint(checkpoint);
        _model = new ReferenceModel(_weights);
    }

    [Fact]
    public void Layers_run_one_at_a_time_give_the_full_forward_logits()
    {
        var c = _model.Config;
        int[] tokens = [1, 450, 2987, 1000, 77, 3000, 12, 9, 400, 401, 402];
        var hidden = new float[tokens.Length * c.HiddenSize];
        _model.Embed(tokens, hidden);
        for (int layer = 0; layer < c.NumLayers; layer++) _model.RunLayer(layer, hidden, observer: null);

        var expected = new float[tokens.Length * c.VocabSize];
        _model.Reset();
        _model.Forward(tokens, 0, expected);

        var normed = new float[c.HiddenSize];
        var logits = new float[c.VocabSize];
        float worst = 0;
        for (int t = 0; t < tokens.Length; t++)
        {
            ReferenceOps.RmsNorm(hidden.AsSpan(t * c.HiddenSize, c.HiddenSize), _weights.FinalNorm, c.RmsNormEps, normed);
            ReferenceOps.MatVec(_weights.LmHead, normed, logits);
            worst = Math.Max(worst, GoldenTests.MaxAbsDifference(logits, expected.AsSpan(t * c.VocabSize, c.VocabSize)));
        }
        Assert.InRange(worst, 0, 1e-3f);
    }

    [Fact]
    public void The_observer_sees_each_input_once_per_layer_with_its_width()
    {
        var c = _model.Config;
        int[] tokens = [1, 5, 6, 7, 8];
        var hidden = new float[tokens.Length * c.HiddenSize];
        _model.Embed(tokens, hidden);
        var recorder = new Recorder();
        _model.RunLayer(0, hidden, recorder);

        Assert.Equal(
            [(LinearInputKind.AttentionInput, c.HiddenSize), (LinearInputKind.AttentionOutput, c.QueryDim),
             (LinearInputKind.MlpInput, c.HiddenSize), (LinearInputKind.MlpHidden, c.IntermediateSize)],
            recorder.Seen.Select(s => (s.Kind, s.Width)));

        // The first input is input_layernorm of the embeddings.
        var expected = new float[c.HiddenSize];
        var embedded = new float[tokens.Length * c.HiddenSize];
        _model.Embed(tokens, embedded);
        ReferenceOps.RmsNorm(embedded.AsSpan(2 * c.HiddenSize, c.HiddenSize), _weights.Layers[0].AttentionNorm, c.RmsNormEps, expected);
        Assert.InRange(GoldenTests.MaxAbsDifference(recorder.FirstInputRow2, expected), 0, 1e-5f);
    }

    [Fact]
    public void Rejects_a_ragged_hidden_buffer_and_a_layer_out_of_range()
    {
        var c = _model.Config;
        Assert.Throws<ArgumentException>(() => _model.RunLayer(0, new float[c.HiddenSize + 1], null));
        Assert.Throws<ArgumentOutOfRangeException>(() => _model.RunLayer(c.NumLayers, new float[c.HiddenSize], null));
    }

    private sealed class Recorder : ILinearInputObserver
    {
        public List<(LinearInputKind Kind, int Width)> Seen { get; } = [];
        public float[] FirstInputRow2 { get; private set; } = [];

        public void Observe(int layer, LinearInputKind kind, ReadOnlySpan<float> rows, int rowCount)
        {
            int width = rows.Length / rowCount;
            if (Seen.Count == 0) FirstInputRow2 = rows.Slice(2 * width, width).ToArray();
            Seen.Add((kind, width));
        }
    }
}
