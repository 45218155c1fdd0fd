using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace SagePtq.Generator.Tests.Infrastructure;

/// <summary>An AdditionalFiles item held in memory.</summary>
internal sealed class InMemoryAdditionalText(string path, string text) : AdditionalText
{
    private readonly SourceText _text = SourceText.From(text, System.Text.Encoding.UTF8);

    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => _text;
}

/// <summary>Analyzer config values: global (<c>build_property.*</c>) and per AdditionalFiles path (<c>build_metadata.*</c>).</summary>
internal sealed class TestOptionsProvider(
    IReadOnlyDictionary<string, string> global,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> perFile) : AnalyzerConfigOptionsProvider
{
    private static readonly IReadOnlyDictionary<string, string> None = new Dictionary<string, string>();

    public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(global);

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Options(None);

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) =>
        new Options(perFile.TryGetValue(textFile.Path, out var values) ? values : None);

    private sealed class Options(IReadOnlyDictionary<string, string> values) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, out string value)
        {
            if (values.TryGetValue(key, out var found))
            {
                value = found;
                return true;
            }
            value = "";
            return false;
        }
    }
}

/// <summary>A manifest as the MSBuild targets hand it to the generator: text, path and item metadata.</summary>
internal sealed record ManifestItem(string Path, string Text, string ModelId, string? ClassName = null, string? Namespace = null, string? PackMode = "Embed")
{
    public IReadOnlyDictionary<string, string> Metadata()
    {
        var values = new Dictionary<string, string> { ["build_metadata.AdditionalFiles.SagePtqModelId"] = ModelId };
        if (ClassName is not null) values["build_metadata.AdditionalFiles.SagePtqClassName"] = ClassName;
        if (Namespace is not null) values["build_metadata.AdditionalFiles.SagePtqNamespace"] = Namespace;
        if (PackMode is not null) values["build_metadata.AdditionalFiles.SagePtqPackMode"] = PackMode;
        return values;
    }
}

/// <summary>Runs <see cref="ModelGenerator"/> the way the compiler does, with step tracking on.</summary>
internal static class GeneratorHarness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>The consuming project's RootNamespace in these tests (a model without SagePtqNamespace lands there).</summary>
    public const string DefaultRootNamespace = "QuickStart";

    /// <summary>A compilation of <paramref name="sources"/> (a small console-free library) with the framework references.</summary>
    public static CSharpCompilation Compilation(IEnumerable<MetadataReference>? references = null, params string[] sources) =>
        CSharpCompilation.Create("Consumer",
            sources.Select((s, i) => CSharpSyntaxTree.ParseText(s, ParseOptions, path: $"Source{i}.cs")),
            references ?? FrameworkReferences(),
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>The reference assemblies of the running framework.</summary>
    public static ImmutableArray<MetadataReference> FrameworkReferences() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "mscorlib.dll" or "netstandard.dll")
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToImmutableArray();

    /// <summary>A driver holding <paramref name="items"/> (plus any non-manifest <paramref name="otherFiles"/>).</summary>
    public static GeneratorDriver Driver(IEnumerable<ManifestItem> items, IEnumerable<AdditionalText>? otherFiles = null, string? rootNamespace = DefaultRootNamespace)
    {
        var list = items.ToList();
        return Driver(list, list.Select(i => (AdditionalText)new InMemoryAdditionalText(i.Path, i.Text)), otherFiles, rootNamespace);
    }

    /// <summary>A driver holding the given manifest texts (with the metadata of <paramref name="items"/>) and <paramref name="otherFiles"/>.</summary>
    public static GeneratorDriver Driver(IReadOnlyList<ManifestItem> items, IEnumerable<AdditionalText> manifestTexts, IEnumerable<AdditionalText>? otherFiles, string? rootNamespace = DefaultRootNamespace)
    {
        var list = items;
        var texts = manifestTexts.Concat(otherFiles ?? []).ToList();
        var global = new Dictionary<string, string>();
        if (rootNamespace is not null) global["build_property.RootNamespace"] = rootNamespace;
        var options = new TestOptionsProvider(global, list.ToDictionary(i => i.Path, i => i.Metadata()));
        return CSharpGeneratorDriver.Create(
            [new ModelGenerator().AsSourceGenerator()], texts, ParseOptions, options,
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
    }

    /// <summary>Runs the generator once over <paramref name="items"/> and returns its result.</summary>
    public static GeneratorRunResult Run(params ManifestItem[] items) => Run(items, DefaultRootNamespace);

    /// <summary>Runs the generator once over <paramref name="items"/> and returns its result.</summary>
    public static GeneratorRunResult Run(IEnumerable<ManifestItem> items, string? rootNamespace)
    {
        var driver = Driver(items, rootNamespace: rootNamespace).RunGenerators(Compilation());
        return driver.GetRunResult().Results.Single();
    }
}

/// <summary>The committed manifest fixtures.</summary>
internal static class Fixtures
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "Fixtures");

    /// <summary>The exact text of a fixture (no BOM, \n line ends, as the quantizer writes them).</summary>
    public static string Text(string fileName) => File.ReadAllText(Path.Combine(Directory, fileName), new System.Text.UTF8Encoding(false));

    /// <summary>The two-layer fixture: a <c>sageptq synth --shape tiny</c> manifest, layer 1 edited to cover uniform and f16.</summary>
    public static ManifestItem Tiny => new("models/tiny/model.manifest.json", Text("tiny.manifest.json"), "tiny-llama", Namespace: "Demo.Models", PackMode: "Embed");

    /// <summary>sagelm-7m quantized with SAGE-PTQ (the default options).</summary>
    public static ManifestItem SageLm7m => new("models/sagelm-7m/model.manifest.json", Text("sagelm-7m-sage.manifest.json"), "sagelm-7m", PackMode: "Copy");
}
