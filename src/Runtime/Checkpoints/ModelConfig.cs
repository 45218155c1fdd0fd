using System.Text.Json;

namespace SagePtq.Runtime.Checkpoints;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> that a LLaMA-family forward pass needs.
/// Reads both the transformers-4 layout (<c>rope_theta</c> at the top level) and the transformers-5
/// layout (<c>rope_parameters.rope_theta</c>); anything this runtime would compute wrongly
/// (another architecture, biases, rope scaling) is refused with a clear error instead.
/// </summary>
public sealed record ModelConfig
{
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int NumLayers { get; init; }
    public required int NumHeads { get; init; }
    /// <summary>Key/value heads; fewer than <see cref="NumHeads"/> means grouped-query attention.</summary>
    public required int NumKeyValueHeads { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    public required int MaxPositionEmbeddings { get; init; }
    public required float RmsNormEps { get; init; }
    public required float RopeTheta { get; init; }
    /// <summary>True when the LM head reuses the embedding matrix (no <c>lm_head.weight</c> tensor).</summary>
    public required bool TieWordEmbeddings { get; init; }
    public int BosTokenId { get; init; } = 1;
    public IReadOnlyList<int> EosTokenIds { get; init; } = [2];

    /// <summary>Width of the key (and value) projection: KV heads × head dim.</summary>
    public int KeyValueDim => NumKeyValueHeads * HeadDim;

    /// <summary>Width of the query projection: heads × head dim (equals hidden size for LLaMA-2).</summary>
    public int QueryDim => NumHeads * HeadDim;

    public static ModelConfig Load(string configJsonPath)
    {
        if (!File.Exists(configJsonPath))
            throw new ModelFileException(configJsonPath, "file not found");
        string text;
        try { text = File.ReadAllText(configJsonPath); }
        catch (IOException e) { throw new ModelFileException(configJsonPath, $"cannot be read: {e.Message}", e); }
        return Parse(text, configJsonPath);
    }

    /// <param name="path">Used in error messages only.</param>
    public static ModelConfig Parse(string json, string path)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
            root = doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ModelFileException(path, $"is not valid JSON ({e.Message})", e);
        }
        if (root.ValueKind != JsonValueKind.Object)
            throw new ModelFileException(path, "is not a JSON object");

        var reader = new ConfigReader(root, path);
        CheckArchitecture(reader, path);

        int hidden = reader.PositiveInt("hidden_size");
        int heads = reader.PositiveInt("num_attention_heads");
        int kvHeads = reader.OptionalInt("num_key_value_heads") ?? heads;
        int headDim = reader.OptionalInt("head_dim") ?? (hidden % heads == 0 ? hidden / heads
            : throw new ModelFileException(path, $"hidden_size {hidden} is not a multiple of num_attention_heads {heads} and no head_dim is given"));
        if (kvHeads <= 0 || heads % kvHeads != 0)
            throw new ModelFileException(path, $"num_attention_heads {heads} is not a multiple of num_key_value_heads {kvHeads}");
        if (headDim <= 0 || headDim % 2 != 0)
            throw new ModelFileException(path, $"head_dim {headDim} must be positive and even for rotary embeddings");

        return new ModelConfig
        {
            HiddenSize = hidden,
            IntermediateSize = reader.PositiveInt("intermediate_size"),
            NumLayers = reader.PositiveInt("num_hidden_layers"),
            NumHeads = heads,
            NumKeyValueHeads = kvHeads,
            HeadDim = headDim,
            VocabSize = reader.PositiveInt("vocab_size"),
            MaxPositionEmbeddings = reader.OptionalInt("max_position_embeddings") ?? 2048,
            RmsNormEps = (float)(reader.OptionalDouble("rms_norm_eps") ?? 1e-6),
            RopeTheta = (float)ReadRopeTheta(reader, path),
            TieWordEmbeddings = reader.OptionalBool("tie_word_embeddings") ?? false,
            BosTokenId = reader.OptionalInt("bos_token_id") ?? 1,
            EosTokenIds = reader.IntOrIntList("eos_token_id") ?? [2],
        };
    }

    private static void CheckArchitecture(ConfigReader reader, string path)
    {
        string? modelType = reader.OptionalString("model_type");
        string[] architectures = reader.StringList("architectures");
        bool isLlama = modelType == "llama" || (modelType is null && architectures.Contains("LlamaForCausalLM"));
        if (!isLlama)
        {
            string what = modelType ?? (architectures.Length > 0 ? string.Join(", ", architectures) : "none given");
            throw new ModelFileException(path, $"architecture '{what}' is not supported: SagePtq runs LLaMA-family checkpoints (model_type \"llama\", LlamaForCausalLM)");
        }
        if (reader.OptionalString("hidden_act") is { } act && act != "silu")
            throw new ModelFileException(path, $"hidden_act '{act}' is not supported (LLaMA uses silu)");
        foreach (var bias in new[] { "attention_bias", "mlp_bias" })
            if (reader.OptionalBool(bias) == true)
                throw new ModelFileException(path, $"{bias} = true is not supported (LLaMA projections have no bias)");
    }

    /// <summary>transformers 4 writes <c>rope_theta</c> (and <c>rope_scaling</c>) at the top; transformers 5 nests both in <c>rope_parameters</c>.</summary>
    private static double ReadRopeTheta(ConfigReader reader, string path)
    {
        var nested = reader.OptionalObject("rope_parameters");
        var scaling = reader.OptionalObject("rope_scaling");
        string? ropeType = nested?.OptionalString("rope_type") ?? nested?.OptionalString("type")
                           ?? scaling?.OptionalString("rope_type") ?? scaling?.OptionalString("type");
        if (ropeType is not null && ropeType != "default")
            throw new ModelFileException(path, $"rope type '{ropeType}' is not supported (only the default rotary embedding is)");
        return nested?.OptionalDouble("rope_theta") ?? reader.OptionalDouble("rope_theta") ?? 10000.0;
    }

    /// <summary>Typed, error-reporting access to one JSON object of config.json.</summary>
    private sealed class ConfigReader(JsonElement obj, string path)
    {
        public int PositiveInt(string name)
        {
            int value = OptionalInt(name) ?? throw new ModelFileException(path, $"required field '{name}' is missing");
            return value > 0 ? value : throw new ModelFileException(path, $"'{name}' must be positive, not {value}");
        }

        public int? OptionalInt(string name) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } e when e.TryGetInt32(out int v) => v,
            var e => throw Wrong(name, "an integer", e.Value),
        };

        public double? OptionalDouble(string name) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
            var e => throw Wrong(name, "a number", e.Value),
        };

        public bool? OptionalBool(string name) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            var e => throw Wrong(name, "true or false", e.Value),
        };

        public string? OptionalString(string name) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } e => e.GetString(),
            var e => throw Wrong(name, "a string", e.Value),
        };

        public ConfigReader? OptionalObject(string name) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Object } e => new ConfigReader(e, path),
            var e => throw Wrong(name, "an object", e.Value),
        };

        public string[] StringList(string name) => Get(name) switch
        {
            null => [],
            { ValueKind: JsonValueKind.Array } e => e.EnumerateArray()
                .Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw Wrong(name, "a list of strings", e))
                .ToArray(),
            var e => throw Wrong(name, "a list of strings", e.Value),
        };

        /// <summary>eos_token_id is an integer in LLaMA-2 configs and a list in LLaMA-3 ones.</summary>
        public int[]? IntOrIntList(string name) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.Number } e when e.TryGetInt32(out int v) => [v],
            { ValueKind: JsonValueKind.Array } e => e.EnumerateArray()
                .Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int v) ? v : throw Wrong(name, "an integer or a list of integers", e))
                .ToArray(),
            var e => throw Wrong(name, "an integer or a list of integers", e.Value),
        };

        /// <summary>The named property, or null when it is absent or JSON null (both mean "use the default").</summary>
        private JsonElement? Get(string name) =>
            obj.TryGetProperty(name, out var e) && e.ValueKind != JsonValueKind.Null ? e : null;

        private ModelFileException Wrong(string name, string expected, JsonElement actual) =>
            new(path, $"'{name}' must be {expected}, not {actual.GetRawText()}");
    }
}
