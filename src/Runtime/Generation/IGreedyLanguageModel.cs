namespace SagePtq.Runtime.Generation;

/// <summary>
/// A model that can pick the greedy next token itself. The CUDA backend takes the argmax on the GPU and copies
/// back one id instead of the vocabulary's logits; <see cref="TokenGenerator"/> uses this when the sampling is
/// greedy and nothing else reads the logits (temperature 0, no repetition penalty).
/// </summary>
public interface IGreedyLanguageModel : ICausalLanguageModel
{
    /// <summary>
    /// Runs one token at <paramref name="position"/>, as <see cref="ICausalLanguageModel.Forward(int, int)"/> does, and
    /// returns the id of the largest logit, the lowest on a tie (<see cref="Sampler"/>'s argmax for finite logits).
    /// </summary>
    int ForwardGreedy(int token, int position);
}
