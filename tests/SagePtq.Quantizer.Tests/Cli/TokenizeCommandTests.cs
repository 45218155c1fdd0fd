using System.Text.Json;
using SagePtq.Tests;

namespace SagePtq.Quantizer.Tests.Cli;

public class TokenizeCommandTests
{
    [Fact]
    public void Prints_the_ids_of_a_string()
    {
        var r = CliRunner.Run("tokenize", "--tokenizer", TestAssets.EmbeddedModel, "--string", "Hello world");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("446 307 4023 850\n", r.Output);
    }

    [Fact]
    public void Protocol_prefixes_each_document_with_bos()
    {
        string excerpt = Path.Combine(TestAssets.RepoRoot, "tests", "Shared", "Fixtures", "test-excerpt.txt");
        var r = CliRunner.Run("tokenize", "--tokenizer", Path.Combine(TestAssets.EmbeddedModel, "tokenizer.json"), "--text", excerpt, "--protocol", "--json");
        Assert.Equal(0, r.ExitCode);
        using var doc = JsonDocument.Parse(r.Output);
        int[] ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(ids.Length, doc.RootElement.GetProperty("count").GetInt32());
        Assert.Equal(2, ids.Count(id => id == 1));
        Assert.Equal(1, ids[0]);
    }

    [Fact]
    public void Needs_exactly_one_text_source()
    {
        var r = CliRunner.Run("tokenize", "--tokenizer", TestAssets.EmbeddedModel);
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("Give exactly one of --text FILE or --string S.", r.Error);
    }

    [Fact]
    public void A_malformed_tokenizer_is_named()
    {
        using var dir = TestAssets.NewTempDir();
        File.WriteAllText(dir.File("tokenizer.json"), "{ \"model\": ");
        var r = CliRunner.Run("tokenize", "--tokenizer", dir.Path, "--string", "x");
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: tokenizer.json: ", r.Error);
        Assert.DoesNotContain("   at ", r.Error);
    }
}
