using System.Text.Json;

namespace SagePtq.EndToEnd.Tests;

/// <summary>A console app that references the SagePtq package and declares one model, as a user writes it.</summary>
internal sealed class ConsumerApp
{
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(5);

    public ConsumerApp(LocalFeed feed, string name, string modelItem, string program)
    {
        Directory = feed.NewAppDirectory(name);
        Name = name;
        File.WriteAllText(Path.Combine(Directory, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(Directory, "Program.cs"), program);
        WriteProject(feed.Version, modelItem);
    }

    public string Directory { get; }

    public string Name { get; }

    /// <summary>The folder the build quantizes into (the package's convention: obj/…/sageptq/{ID}).</summary>
    public string PackDirectory(string modelId) => Path.Combine(Directory, "obj", "Release", "net10.0", "sageptq", modelId);

    /// <summary>Replaces the model item (to change its metadata between builds).</summary>
    public void WriteProject(string version, string modelItem) =>
        File.WriteAllText(Path.Combine(Directory, Name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <RootNamespace>{Name}</RootNamespace>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="SagePtq" Version="{version}" />
                {modelItem}
              </ItemGroup>
            </Project>
            """);

    public ProcessResult Build(params string[] extra) =>
        DotNet.Run(Directory, null, BuildTimeout, ["build", "-c", "Release", "-nodeReuse:false", "-p:UseSharedCompilation=false", "-v:n", .. extra]);

    /// <summary>Runs the built app; each line it prints is a JSON string.</summary>
    public IReadOnlyList<string> Run(params string[] arguments)
    {
        string dll = Path.Combine(Directory, "bin", "Release", "net10.0", Name + ".dll");
        var result = DotNet.Run(Directory, null, TimeSpan.FromMinutes(2), ["exec", dll, .. arguments]).EnsureSuccess();
        return result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(line => JsonSerializer.Deserialize<string>(line)!).ToArray();
    }

    /// <summary>A program that prints, as one JSON string per line, the greedy 40-token continuation of each argument.</summary>
    public static string GreedyProgram(string appNamespace, string className) => $$"""
        using System.Text.Json;
        using {{appNamespace}};
        using SagePtq.Runtime.Generation;

        using var model = new {{className}}();
        foreach (var prompt in args)
            Console.WriteLine(JsonSerializer.Serialize(model.Generate(prompt, GenerationOptions.Greedy with { MaxTokens = 40 })));
        """;
}
