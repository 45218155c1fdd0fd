using SagePtq.Runtime.Checkpoints;

namespace SagePtq.Runtime.Reference;

/// <summary>
/// Keys and values of every layer for positions 0..MaxPositionEmbeddings−1. Keys are stored
/// [position × kvDim], so one head's keys are the rows of a strided matrix and Q · Kᵀ is a
/// <see cref="Gemm"/> call. Values are stored transposed, [kvHead × headDim × position], so that
/// P · V is one too (P · (Vᵀ)ᵀ).
/// </summary>
internal sealed class KeyValueCache
{
    private readonly ModelConfig _config;
    private readonly float[][] _keys;             // per layer: [position × kvDim]
    private readonly float[][] _valuesTransposed; // per layer: [kvHead × headDim × position]

    public KeyValueCache(ModelConfig config)
    {
        _config = config;
        int size = config.MaxPositionEmbeddings * config.KeyValueDim;
        _keys = Enumerable.Range(0, config.NumLayers).Select(_ => new float[size]).ToArray();
        _valuesTransposed = Enumerable.Range(0, config.NumLayers).Select(_ => new float[size]).ToArray();
    }

    private int Capacity => _config.MaxPositionEmbeddings;

    /// <summary>All key heads of positions <paramref name="start"/>.., for the K projection to write into.</summary>
    public MatrixView KeyRows(int layer, int start, int count) =>
        new(_keys[layer], start * _config.KeyValueDim, count, _config.KeyValueDim, _config.KeyValueDim);

    /// <summary>One head's keys for positions 0..<paramref name="count"/>−1: [count × headDim].</summary>
    public MatrixView Keys(int layer, int kvHead, int count) =>
        new(_keys[layer], kvHead * _config.HeadDim, count, _config.HeadDim, _config.KeyValueDim);

    /// <summary>One head's values for positions 0..<paramref name="count"/>−1, transposed: [headDim × count].</summary>
    public MatrixView ValuesTransposed(int layer, int kvHead, int count) =>
        new(_valuesTransposed[layer], kvHead * _config.HeadDim * Capacity, _config.HeadDim, count, Capacity);

    /// <summary>Stores value rows [tokens × kvDim] for positions <paramref name="start"/>.. (transposing them).</summary>
    public void StoreValues(int layer, MatrixView values, int start)
    {
        var transposed = _valuesTransposed[layer];
        for (int t = 0; t < values.Rows; t++)
        {
            var row = values.Row(t);
            for (int i = 0; i < row.Length; i++) transposed[i * Capacity + start + t] = row[i];
        }
    }
}
