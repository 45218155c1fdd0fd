using System.Diagnostics;
using SagePtq.Runtime.Generation;

namespace SagePtq.Quantizer.Bench;

/// <summary>
/// Times the two phases of generation on any model, the way llama-bench does (pp = prompt tokens in one
/// batch, tg = tokens generated one at a time): no tokenizer, fixed pseudo-random prompt ids, greedy
/// next tokens so that every step also pays for reading the logits.
/// </summary>
internal static class DecodeTimer
{
    /// <summary>A prompt of <paramref name="length"/> ids: BOS, then ids drawn from the vocabulary with a fixed seed.</summary>
    public static int[] Prompt(int length, int vocab, int bos)
    {
        var random = new SplitMix64(0x5A9E);
        var ids = new int[length];
        ids[0] = bos;
        for (int i = 1; i < length; i++) ids[i] = (int)(random.NextUInt64() % (ulong)vocab);
        return ids;
    }

    /// <summary>Runs <paramref name="prompt"/> from position 0 in one batch; prompt tokens per second.</summary>
    public static double Prefill(ICausalLanguageModel model, int[] prompt)
    {
        model.Reset();
        long start = Stopwatch.GetTimestamp();
        model.Prefill(prompt);
        return prompt.Length / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>
    /// Generates <paramref name="tokens"/> greedy tokens one at a time after the first
    /// <paramref name="position"/> cached positions (the caller has filled them); tokens per second. A model that
    /// picks greedy tokens itself (the GPU's argmax) does so, as greedy generation lets it.
    /// </summary>
    public static double Decode(ICausalLanguageModel model, int position, int tokens, int firstToken)
    {
        int next = firstToken;
        var greedy = model as IGreedyLanguageModel;
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < tokens; i++)
            next = greedy is not null ? greedy.ForwardGreedy(next, position + i) : System.Numerics.Tensors.TensorPrimitives.IndexOfMax(model.Forward(next, position + i));
        return tokens / Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
