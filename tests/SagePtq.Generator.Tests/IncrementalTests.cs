using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using SagePtq.Generator.Tests.Infrastructure;

namespace SagePtq.Generator.Tests;

/// <summary>
/// The generator does no work that its inputs do not call for: a second run, a C# edit, or a change
/// to an unrelated AdditionalFile leaves every tracked step Cached or Unchanged, and editing a
/// manifest re-emits that model only.
/// </summary>
public sealed class IncrementalTests
{
    private static readonly string[] TrackedSteps =
    [
        ModelGenerator.ManifestInputsStep, ModelGenerator.ParsedManifestsStep,
        ModelGenerator.UniqueModelsStep, ModelGenerator.DuplicateModelsStep,
    ];

    private static readonly InMemoryAdditionalText Notes = new("docs/notes.txt", "not a manifest");

    [Fact]
    public void A_second_run_with_the_same_inputs_is_all_cached()
    {
        var compilation = GeneratorHarness.Compilation(null, "class A { }");
        var driver = Driver().RunGenerators(compilation);
        AssertFirstRunProduced(driver);
        driver = driver.RunGenerators(compilation);
        AssertNothingRan(driver);
    }

    [Fact]
    public void Adding_a_csharp_file_runs_nothing()
    {
        var compilation = GeneratorHarness.Compilation(null, "class A { }");
        var driver = Driver().RunGenerators(compilation);
        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class B { int X => 1; }", GeneratorHarness.ParseOptions)));
        AssertNothingRan(driver);
    }

    [Fact]
    public void Editing_a_csharp_file_runs_nothing()
    {
        var compilation = GeneratorHarness.Compilation(null, "class A { }");
        var driver = Driver().RunGenerators(compilation);
        var old = compilation.SyntaxTrees.Single();
        var edited = compilation.ReplaceSyntaxTree(old, CSharpSyntaxTree.ParseText("class A { void M() { } }", GeneratorHarness.ParseOptions, old.FilePath));
        driver = driver.RunGenerators(edited);
        AssertNothingRan(driver);
    }

    [Fact]
    public void Changing_another_additional_file_runs_nothing()
    {
        var compilation = GeneratorHarness.Compilation(null, "class A { }");
        var driver = Driver().RunGenerators(compilation);
        driver = driver.ReplaceAdditionalText(Notes, new InMemoryAdditionalText(Notes.Path, "still not a manifest, but different"));
        driver = driver.RunGenerators(compilation);
        AssertNothingRan(driver);
    }

    [Fact]
    public void Editing_a_manifest_re_emits_that_model_only()
    {
        var compilation = GeneratorHarness.Compilation(null, "class A { }");
        var tiny = Fixtures.Tiny;
        var driver = Driver().RunGenerators(compilation);
        var before = driver.GetRunResult().Results[0].GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());

        var edited = tiny.Text.Replace("\"name\": \"synthetic\"", "\"name\": \"synthetic-edited\"", StringComparison.Ordinal);
        Assert.NotEqual(tiny.Text, edited);
        driver = ReplaceManifest(driver, tiny.Path, edited).RunGenerators(compilation);
        var result = driver.GetRunResult().Results[0];

        // The tiny model was parsed and emitted again; the sagelm-7m model was not.
        Assert.Contains(result.TrackedSteps[ModelGenerator.ParsedManifestsStep].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        var unique = result.TrackedSteps[ModelGenerator.UniqueModelsStep].SelectMany(s => s.Outputs).ToList();
        Assert.Equal(1, unique.Count(o => o.Reason == IncrementalStepRunReason.Modified));
        Assert.Equal(1, unique.Count(o => o.Reason is IncrementalStepRunReason.Unchanged or IncrementalStepRunReason.Cached));

        var after = result.GeneratedSources.ToDictionary(s => s.HintName, s => s.SourceText.ToString());
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        Assert.Contains("method synthetic-edited", after["TinyLlamaModel.g.cs"], StringComparison.Ordinal);
        Assert.NotEqual(before["TinyLlamaModel.g.cs"], after["TinyLlamaModel.g.cs"]);
        Assert.Equal(before["SageLm7mModel.g.cs"], after["SageLm7mModel.g.cs"]);
    }

    [Fact]
    public void Changing_a_models_metadata_re_emits_that_model_only()
    {
        var compilation = GeneratorHarness.Compilation(null, "class A { }");
        var driver = Driver().RunGenerators(compilation);
        var items = new[] { Fixtures.Tiny with { ClassName = "Renamed" }, Fixtures.SageLm7m };
        var options = new TestOptionsProvider(
            new Dictionary<string, string> { ["build_property.RootNamespace"] = GeneratorHarness.DefaultRootNamespace },
            items.ToDictionary(i => i.Path, i => i.Metadata()));
        driver = driver.WithUpdatedAnalyzerConfigOptions(options).RunGenerators(compilation);
        var result = driver.GetRunResult().Results[0];

        Assert.Contains(result.GeneratedSources, s => s.HintName == "Renamed.g.cs");
        Assert.DoesNotContain(result.GeneratedSources, s => s.HintName.StartsWith("TinyLlamaModel", StringComparison.Ordinal));
        var unique = result.TrackedSteps[ModelGenerator.UniqueModelsStep].SelectMany(s => s.Outputs).ToList();
        Assert.Equal(1, unique.Count(o => o.Reason is IncrementalStepRunReason.Unchanged or IncrementalStepRunReason.Cached));
    }

    [Fact]
    public void Equal_manifests_give_equal_models()
    {
        // The model records are value-equal (not reference-equal) across parses: the basis of caching.
        var first = SnapshotTests.Model(Fixtures.SageLm7m);
        var second = SnapshotTests.Model(Fixtures.SageLm7m with { Text = new string(Fixtures.SageLm7m.Text.AsSpan()) });
        Assert.NotSame(first, second);
        Assert.Equal(first, second);
        Assert.Equal(first.GetHashCode(), second.GetHashCode());
        Assert.NotEqual(first, SnapshotTests.Model(Fixtures.SageLm7m with { ClassName = "OtherModel" }));
    }

    [Fact]
    public void Models_hold_no_roslyn_objects()
    {
        // A reflection walk over the model types: only strings, numbers and the model's own records.
        var seen = new HashSet<Type>();
        Walk(typeof(SagePtq.Generator.Model.ParsedManifest), seen);
        Assert.DoesNotContain(seen, t => t.Namespace?.StartsWith("Microsoft.CodeAnalysis", StringComparison.Ordinal) == true);
        Assert.Contains(typeof(SagePtq.Generator.Model.LinearSpec), seen);

        static void Walk(Type type, HashSet<Type> seen)
        {
            if (!seen.Add(type) || type.IsPrimitive || type == typeof(string)) return;
            if (type.IsGenericType) foreach (var argument in type.GetGenericArguments()) Walk(argument, seen);
            if (Nullable.GetUnderlyingType(type) is { } underlying) Walk(underlying, seen);
            if (type.Namespace != "SagePtq.Generator.Model") return;
            foreach (var property in type.GetProperties()) Walk(property.PropertyType, seen);
            foreach (var field in type.GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public))
                Walk(field.FieldType, seen);
        }
    }

    private readonly Dictionary<string, AdditionalText> _manifests = new();

    private GeneratorDriver Driver()
    {
        var items = new[] { Fixtures.Tiny, Fixtures.SageLm7m };
        foreach (var item in items) _manifests[item.Path] = new InMemoryAdditionalText(item.Path, item.Text);
        return GeneratorHarness.Driver(items, _manifests.Values, [Notes]);
    }

    // The driver finds the file to replace by reference, so keep the instances it was given.
    private GeneratorDriver ReplaceManifest(GeneratorDriver driver, string path, string text)
    {
        var replacement = new InMemoryAdditionalText(path, text);
        driver = driver.ReplaceAdditionalText(_manifests[path], replacement);
        _manifests[path] = replacement;
        return driver;
    }

    private static void AssertFirstRunProduced(GeneratorDriver driver)
    {
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        Assert.Equal((2 + 2 * 2) + (2 + 2 * 6), result.GeneratedSources.Length); // per model: class + CUDA file, and two files per layer
        foreach (var step in TrackedSteps) Assert.True(result.TrackedSteps.ContainsKey(step), step + " was not tracked");
    }

    private static void AssertNothingRan(GeneratorDriver driver)
    {
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        foreach (var name in TrackedSteps)
        {
            foreach (var output in result.TrackedSteps[name].SelectMany(s => s.Outputs))
                Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {output.Reason}");
        }
        Assert.NotEmpty(result.TrackedOutputSteps);
        foreach (var (name, steps) in result.TrackedOutputSteps)
        {
            foreach (var output in steps.SelectMany(s => s.Outputs))
                Assert.True(output.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, $"{name}: {output.Reason}");
        }
    }
}
