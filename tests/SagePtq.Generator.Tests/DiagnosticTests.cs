using Microsoft.CodeAnalysis;
using SagePtq.Generator.Model;
using SagePtq.Generator.Parsing;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>One malformed or unsupported manifest per diagnostic: each is reported on the manifest, and none crashes the generator.</summary>
public sealed class DiagnosticTests
{
    private static readonly ManifestItem Tiny = Fixtures.Tiny;

    [Fact]
    public void SPQ1001_malformed_json_points_at_the_line_and_column()
    {
        // A trailing comma after the last linear's last member: line and column of the offending '}'.
        var text = Tiny.Text.Replace("\"schemaVersion\": 1,", "\"schemaVersion\": 1,,", StringComparison.Ordinal);
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1001", DiagnosticSeverity.Error);
        var span = diagnostic.Location.GetLineSpan();
        Assert.Equal(Tiny.Path, span.Path);
        Assert.Equal(new Microsoft.CodeAnalysis.Text.LinePosition(1, 21), span.StartLinePosition);
        Assert.Contains("line 2, column 22", diagnostic.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("expected a member name", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void SPQ1001_for_an_empty_file()
    {
        var diagnostic = Single(Tiny with { Text = "" }, "SPQ1001", DiagnosticSeverity.Error);
        Assert.Contains("unexpected end of the text", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void SPQ1002_unsupported_schema_version()
    {
        var text = Tiny.Text.Replace("\"schemaVersion\": 1,", "\"schemaVersion\": 2,", StringComparison.Ordinal);
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1002", DiagnosticSeverity.Error);
        Assert.Equal("model.manifest.json: schemaVersion 2 is not supported (this generator reads version 1): update SagePtq or re-quantize the model", diagnostic.GetMessage());
        Assert.Equal("2", SourceAt(text, diagnostic));
    }

    [Fact]
    public void SPQ1003_a_field_of_the_wrong_type_names_the_field_and_points_at_it()
    {
        var text = ReplaceFirst(Tiny.Text, "\"rows\": 64,", "\"rows\": \"many\",");
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1003", DiagnosticSeverity.Error);
        Assert.Equal("model.manifest.json: linears[0].rows: must be a positive integer, not \"many\"", diagnostic.GetMessage());
        Assert.Equal("\"many\"", SourceAt(text, diagnostic));
    }

    [Fact]
    public void SPQ1003_a_missing_field()
    {
        var text = ReplaceFirst(Tiny.Text, "\"hiddenSize\": 64,", "");
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1003", DiagnosticSeverity.Error);
        Assert.Equal("model.manifest.json: architecture.hiddenSize: is missing", diagnostic.GetMessage());
    }

    [Fact]
    public void SPQ1003_a_shape_that_disagrees_with_the_architecture()
    {
        var text = ReplaceFirst(Tiny.Text, "\"rows\": 64,", "\"rows\": 65,");
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1003", DiagnosticSeverity.Error);
        Assert.Equal("model.manifest.json: linears[0].rows: 65 disagrees with the architecture: self_attn.q_proj has 64 rows", diagnostic.GetMessage());
    }

    [Fact]
    public void SPQ1003_a_layer_without_all_seven_linears()
    {
        // Rename layer 1's up_proj to a second gate_proj: a repeat, and up_proj then missing is not reported twice.
        var text = Tiny.Text.Replace("model.layers.1.mlp.up_proj.weight\"", "model.layers.1.mlp.gate_proj.weight\"", StringComparison.Ordinal);
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1003", DiagnosticSeverity.Error);
        Assert.Matches(@"linears\[\d+\]\.name: layer 1 already has a mlp.gate_proj record \(linears\[\d+\]\)", diagnostic.GetMessage());

        var fewer = Tiny with { Text = Tiny.Text.Replace("\"numLayers\": 2,", "\"numLayers\": 3,", StringComparison.Ordinal) };
        var missing = Single(fewer, "SPQ1003", DiagnosticSeverity.Error);
        Assert.Contains("layer 2 has no record for self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, self_attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj", missing.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_rotated_sage_linear_is_accepted_and_passes_its_seed_to_the_rotated_gemv_overload()
    {
        // What the quantizer writes for a rotated linear (SageLayout: rotate_seed_lo/hi, ordinal order between groups and salient_bits).
        var text = ReplaceFirst(Tiny.Text, "\"groups\": ", "\"rotate_seed_hi\": -7,\n        \"rotate_seed_lo\": 123456789,\n        \"groups\": ");
        var result = GeneratorHarness.Run(Tiny with { Text = text });
        Assert.Null(result.Exception);
        Assert.Empty(result.Diagnostics);
        var layer0 = result.GeneratedSources.Single(s => s.HintName.EndsWith(".Layer00.Cuda.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Matches(@"sageptq::sage::gemv<64, 64, 0, \d+, -7, 123456789, \d+, \d+, \d+>\(args\);", layer0);
    }

    [Fact]
    public void SPQ1003_wrong_parameters_for_a_cuda_layout()
    {
        var text = ReplaceFirst(Tiny.Text, "\"scale_mode\": 1", "\"scale_modes\": 1");
        var diagnostic = Single(Tiny with { Text = text }, "SPQ1003", DiagnosticSeverity.Error);
        Assert.Equal("model.manifest.json: linears[0].parameters: the sage layout takes flags, groups, salient_bits, salient_count, scale_mode, not flags, groups, salient_bits, salient_count, scale_modes", diagnostic.GetMessage());
    }

    [Fact]
    public void SPQ1004_a_layout_without_a_cuda_kernel_warns_and_still_generates()
    {
        // The first layout of a linear record (method.options of the synthetic pack has a "layout" too).
        var text = ReplaceFirst(Tiny.Text, "\"layout\": \"sage\"", "\"layout\": \"billm\"", after: "\"linears\"");
        var result = GeneratorHarness.Run(Tiny with { Text = text });
        Assert.Null(result.Exception);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("SPQ1004", diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Warning, diagnostic.Severity);
        Assert.Equal("model.manifest.json: model.layers.0.self_attn.q_proj.weight uses the 'billm' layout, which has no CUDA kernel: the model runs on the CPU backend only", diagnostic.GetMessage());
        Assert.Equal("\"billm\"", SourceAt(text, diagnostic));

        var cuda = result.GeneratedSources.Single(s => s.HintName == "TinyLlamaModel.Layer00.Cuda.g.cs").SourceText.ToString();
        Assert.Contains("// no kernel: the billm layout has no CUDA implementation", cuda, StringComparison.Ordinal);
        Assert.DoesNotContain("layer00_self_attn_q_proj", cuda, StringComparison.Ordinal);
        var list = result.GeneratedSources.Single(s => s.HintName == "TinyLlamaModel.Cuda.g.cs").SourceText.ToString();
        Assert.Contains("(0, Layer00.CudaSource, new string[] { \"layer00_self_attn_k_proj\",", list, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2Fast", null, "'2Fast' is not a valid class name (SagePtqClassName)")]
    [InlineData("class", null, "'class' is not a valid class name (SagePtqClassName): it is a C# keyword")]
    [InlineData(null, "My..Models", "'My..Models' is not a valid namespace")]
    [InlineData(null, "My.2Models", "its part '2Models' is not usable")]
    public void SPQ1005_invalid_class_name_or_namespace(string? className, string? ns, string expected)
    {
        var diagnostic = Single(Tiny with { ClassName = className, Namespace = ns ?? Tiny.Namespace }, "SPQ1005", DiagnosticSeverity.Error);
        Assert.Contains(expected, diagnostic.GetMessage(), StringComparison.Ordinal);
        Assert.Equal(Tiny.Path, diagnostic.Location.GetLineSpan().Path);
    }

    [Fact]
    public void SPQ1005_an_id_that_derives_no_identifier()
    {
        var diagnostic = Single(Tiny with { ModelId = "my+model" }, "SPQ1005", DiagnosticSeverity.Error);
        Assert.Contains("'My+modelModel' is not a valid class name (derived from the model ID 'my+model'; set SagePtqClassName)", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void SPQ1006_two_models_with_one_class_name()
    {
        var first = Fixtures.SageLm7m with { ClassName = "SharedModel" };
        var second = Fixtures.Tiny with { ClassName = "SharedModel", Namespace = null };
        var result = GeneratorHarness.Run([second, first], GeneratorHarness.DefaultRootNamespace);
        Assert.Null(result.Exception);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal("SPQ1006", diagnostic.Id);
        // models/sagelm-7m/... sorts before models/tiny/...: the first keeps the name, whatever the item order.
        Assert.Equal(second.Path, diagnostic.Location.GetLineSpan().Path);
        Assert.Equal($"model.manifest.json: model 'tiny-llama' would generate the class 'SharedModel', which model 'sagelm-7m' ({first.Path}) already generates: set SagePtqClassName on one of them", diagnostic.GetMessage());
        Assert.Contains(result.GeneratedSources, s => s.HintName == "SharedModel.g.cs" && s.SourceText.ToString().Contains("\"sagelm-7m\"", StringComparison.Ordinal));
        Assert.Equal(2 + 2 * 6, result.GeneratedSources.Length);
    }

    [Fact]
    public void SPQ1006_also_across_namespaces_and_letter_case()
    {
        // The generated files are named after the class alone: two namespaces would still collide.
        var first = Fixtures.SageLm7m with { ClassName = "SharedModel", Namespace = "One" };
        var second = Fixtures.Tiny with { ClassName = "Sharedmodel", Namespace = "Two" };
        var result = GeneratorHarness.Run([first, second], GeneratorHarness.DefaultRootNamespace);
        Assert.Null(result.Exception);
        Assert.Equal("SPQ1006", Assert.Single(result.Diagnostics).Id);
    }

    [Fact]
    public void A_file_without_the_model_id_metadata_is_ignored()
    {
        var driver = GeneratorHarness.Driver([], [new InMemoryAdditionalText("model.manifest.json", "{ not json")]);
        var result = driver.RunGenerators(GeneratorHarness.Compilation()).GetRunResult().Results.Single();
        Assert.Empty(result.Diagnostics);
        Assert.Empty(result.GeneratedSources);
    }

    [Fact]
    public void No_truncation_of_a_manifest_crashes_the_parser()
    {
        // Every 97th prefix of the fixture: always a diagnostic, never an exception.
        var text = Tiny.Text.TrimEnd();
        for (var length = 0; length < text.Length; length += 97)
        {
            var parsed = ManifestParser.Parse(new ManifestInput(Tiny.Path, text[..length], Tiny.ModelId, null, null, null), default);
            Assert.Null(parsed.Model);
            Assert.Equal("SPQ1001", Assert.Single(parsed.Diagnostics).Id);
        }
    }

    [Fact]
    public void No_wrong_value_in_any_field_crashes_the_generator()
    {
        // Replace each number of the first linear record in turn with a string, a negative and a huge value.
        var start = Tiny.Text.IndexOf("\"linears\"", StringComparison.Ordinal);
        var matches = System.Text.RegularExpressions.Regex.Matches(Tiny.Text[start..(start + 900)], @"(?<=: )-?\d+(\.\d+)?(E[+-]?\d+)?");
        Assert.NotEmpty(matches);
        foreach (System.Text.RegularExpressions.Match match in matches)
        {
            foreach (var replacement in new[] { "\"x\"", "-1", "99999999999999999999", "null", "[]" })
            {
                var text = Tiny.Text[..(start + match.Index)] + replacement + Tiny.Text[(start + match.Index + match.Length)..];
                var parsed = ManifestParser.Parse(new ManifestInput(Tiny.Path, text, Tiny.ModelId, null, null, null), default);
                // Offsets and lengths may accept these values; anything the emitted code uses is rejected.
                if (parsed.Model is null) Assert.NotEmpty(parsed.Diagnostics);
            }
        }
    }

    private static Diagnostic Single(ManifestItem item, string id, DiagnosticSeverity severity)
    {
        var result = GeneratorHarness.Run(item);
        Assert.Null(result.Exception);
        Assert.Empty(result.GeneratedSources);
        var diagnostic = Assert.Single(result.Diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(severity, diagnostic.Severity);
        Assert.Equal(item.Path, diagnostic.Location.GetLineSpan().Path);
        return diagnostic;
    }

    private static string SourceAt(string text, Diagnostic diagnostic) => text.Substring(diagnostic.Location.SourceSpan.Start, diagnostic.Location.SourceSpan.Length);

    private static string ReplaceFirst(string text, string oldValue, string newValue, string? after = null)
    {
        var from = after is null ? 0 : text.IndexOf(after, StringComparison.Ordinal);
        var index = text.IndexOf(oldValue, from, StringComparison.Ordinal);
        Assert.True(index >= 0, oldValue + " not found");
        return text[..index] + newValue + text[(index + oldValue.Length)..];
    }
}
