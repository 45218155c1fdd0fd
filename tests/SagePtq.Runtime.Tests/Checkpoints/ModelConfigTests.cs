using SagePtq.Runtime;
using SagePtq.Runtime.Checkpoints;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Checkpoints;

public class ModelConfigTests
{
    [Fact]
    public void Reads_the_embedded_model_with_grouped_query_attention()
    {
        var c = ModelConfig.Load(Path.Combine(TestAssets.EmbeddedModel, "config.json"));
        Assert.Equal((256, 704, 6, 4, 2, 64, 4096), (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.HeadDim, c.VocabSize));
        Assert.Equal(128, c.KeyValueDim);
        Assert.Equal(10000f, c.RopeTheta);
        Assert.Equal(1e-5f, c.RmsNormEps);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal([2], c.EosTokenIds);
    }

    [SharedFact]
    public void Transformers5_layout_reads_the_same_as_transformers4()
    {
        var v4 = ModelConfig.Load(TestAssets.Shared("models", "sagelm-30m", "config.json"));
        var v5 = ModelConfig.Load(TestAssets.Shared("reference", "config-transformers5-style.json"));
        Assert.Equal(v4 with { EosTokenIds = [] }, v5 with { EosTokenIds = [] });
        Assert.Equal(v4.EosTokenIds, v5.EosTokenIds);
        Assert.Equal(500000f, ModelConfig.Parse("""{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8,"rope_parameters":{"rope_type":"default","rope_theta":500000.0}}""", "c.json").RopeTheta);
    }

    [Fact]
    public void Llama3_style_eos_list_and_tied_head_are_read()
    {
        var c = ModelConfig.Parse("""{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"num_key_value_heads":1,"vocab_size":8,"eos_token_id":[128001,128009],"tie_word_embeddings":true}""", "c.json");
        Assert.Equal([128001, 128009], c.EosTokenIds);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(4, c.HeadDim);
    }

    [Theory]
    [InlineData("""{"model_type":"gpt2","hidden_size":8}""", "architecture 'gpt2' is not supported")]
    [InlineData("""{"architectures":["MistralForCausalLM"]}""", "architecture 'MistralForCausalLM' is not supported")]
    [InlineData("""{"model_type":"llama","intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8}""", "required field 'hidden_size' is missing")]
    [InlineData("""{"model_type":"llama","hidden_size":"big","intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8}""", "'hidden_size' must be an integer, not \"big\"")]
    [InlineData("""{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":4,"num_key_value_heads":3,"vocab_size":8}""", "not a multiple of num_key_value_heads 3")]
    [InlineData("""{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8,"rope_scaling":{"type":"yarn","factor":4.0}}""", "rope type 'yarn' is not supported")]
    [InlineData("""{"model_type":"llama","hidden_size":8,"intermediate_size":8,"num_hidden_layers":1,"num_attention_heads":2,"vocab_size":8,"attention_bias":true}""", "attention_bias = true is not supported")]
    [InlineData("""{"model_type":"llama", "hidden_size": 8,""", "is not valid JSON")]
    [InlineData("""[1, 2]""", "is not a JSON object")]
    public void Bad_config_names_the_file_and_the_problem(string json, string expected)
    {
        var e = Assert.Throws<ModelFileException>(() => ModelConfig.Parse(json, "/models/x/config.json"));
        Assert.StartsWith("config.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Missing_config_is_reported()
    {
        using var dir = TestAssets.NewTempDir();
        var e = Assert.Throws<ModelFileException>(() => ModelConfig.Load(dir.File("config.json")));
        Assert.Equal("config.json: file not found", e.Message);
    }
}
