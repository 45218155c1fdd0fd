using System.Diagnostics;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using System.Text;
using SagePtq.Tests;

namespace SagePtq.Tasks.Tests;

/// <summary>
/// A real consuming project (a plain net10.0 console app importing build/SagePtq.props and
/// .targets) built with <c>dotnet build</c> as a child process, against the built task dll and
/// quantizer. rtn on sagelm-7m keeps each quantization near a second.
/// </summary>
public sealed class MsBuildIntegrationTests
{
    /// <summary>A second model, copied beside the app, which the Bits change of the first must leave alone.</summary>
    private static string CopiedModel => $"""<SagePtqModel Include="copied" Path="{TestAssets.EmbeddedModel}" Method="fp16" PackMode="Copy" />""";

    [Fact]
    public void Design_time_build_never_quantizes_first_build_does_second_does_nothing_a_metadata_change_requantizes_that_model_clean_removes()
    {
        using var temp = TestAssets.NewTempDir();
        var app = new ConsumingProject(temp.Path, """<SagePtqModel Include="sagelm-7m" Method="rtn" Bits="4" />""" + CopiedModel);

        // One scenario, so that the project restores once (the first build) and later builds skip it.
        var designTime = app.Build("-p:DesignTimeBuild=true");
        Assert.True(designTime.ExitCode == 0, designTime.Output);
        Assert.DoesNotContain("SagePtq: quantizing", designTime.Output);
        Assert.False(File.Exists(app.Obj("model.manifest.json")));
        Assert.True(File.Exists(app.Obj("inputs.hash")), "resolution still runs in a design-time build");

        var first = app.Build("--no-restore");
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Contains("SagePtq: quantizing sagelm-7m (rtn)", first.Output);
        Assert.Contains("SagePtq: quantizing copied (fp16)", first.Output);
        Assert.Contains("quantize rtn: 42/42", first.Output);
        Assert.True(File.Exists(app.Obj("model.sagepack")));
        Assert.True(File.Exists(app.Obj("model.manifest.json")));
        // Embed: two resources with the contract's names; Copy: the files beside the assembly, not embedded.
        Assert.Equal(["SagePtq/sagelm-7m/model.manifest.json", "SagePtq/sagelm-7m/model.sagepack"], app.ResourceNames());
        string copied = Path.Combine(app.OutDir, "sageptq", "copied");
        Assert.Equal(File.ReadAllBytes(app.Obj("model.sagepack", "copied")), File.ReadAllBytes(Path.Combine(copied, "model.sagepack")));
        Assert.True(File.Exists(Path.Combine(copied, "model.manifest.json")));
        string analyzerConfig = app.AnalyzerConfig();
        Assert.Contains("build_metadata.AdditionalFiles.SagePtqModelId = sagelm-7m", analyzerConfig);
        Assert.Contains("build_metadata.AdditionalFiles.SagePtqPackMode = Embed", analyzerConfig);
        Assert.Contains("build_metadata.AdditionalFiles.SagePtqModelId = copied", analyzerConfig);
        Assert.Contains("build_metadata.AdditionalFiles.SagePtqPackMode = Copy", analyzerConfig);
        var manifestTime = File.GetLastWriteTimeUtc(app.Obj("model.manifest.json"));
        var copiedTime = File.GetLastWriteTimeUtc(app.Obj("model.manifest.json", "copied"));
        string firstStamp = File.ReadAllText(app.Obj(".complete"));

        var second = app.Build("--no-restore");
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.DoesNotContain("SagePtq: quantizing", second.Output);
        Assert.DoesNotContain("quantize rtn:", second.Output);
        Assert.Contains("Skipping target \"_SagePtqQuantize\"", second.Output);
        Assert.Equal(manifestTime, File.GetLastWriteTimeUtc(app.Obj("model.manifest.json")));
        Assert.Equal(2, app.ResourceNames().Count);

        var publish = app.Run("publish", "-c", "Debug", "--no-build", "-o", temp.File("pub"));
        Assert.True(publish.ExitCode == 0, publish.Output);
        Assert.True(File.Exists(temp.File("pub/sageptq/copied/model.sagepack")), publish.Output);
        Assert.True(File.Exists(temp.File("pub/sageptq/copied/model.manifest.json")));

        app.SetModels("""<SagePtqModel Include="sagelm-7m" Method="rtn" Bits="8" />""" + CopiedModel);
        var third = app.Build("--no-restore");
        Assert.True(third.ExitCode == 0, third.Output);
        Assert.Contains("SagePtq: quantizing sagelm-7m (rtn)", third.Output);
        Assert.Contains("--bits 8", third.Output);
        Assert.DoesNotContain("SagePtq: quantizing copied", third.Output);
        Assert.NotEqual(firstStamp, File.ReadAllText(app.Obj(".complete")));
        Assert.Equal(copiedTime, File.GetLastWriteTimeUtc(app.Obj("model.manifest.json", "copied")));

        var clean = app.Run("clean");
        Assert.True(clean.ExitCode == 0, clean.Output);
        Assert.False(Directory.Exists(app.Obj("", "")), "obj/.../sageptq survived clean");
        Assert.False(File.Exists(app.OutputAssembly));
        Assert.False(Directory.Exists(copied));
    }

    [Fact]
    public void Missing_model_fails_the_build_with_SPQ2001()
    {
        using var temp = TestAssets.NewTempDir();
        var app = new ConsumingProject(temp.Path, """<SagePtqModel Include="no-such-model" />""",
            extraProperties: $"<SagePtqModelsDir>{temp.File("models")}</SagePtqModelsDir><HF_HOME>{temp.File("hf")}</HF_HOME>");

        var build = app.Build();

        Assert.NotEqual(0, build.ExitCode);
        Assert.Contains("error SPQ2001", build.Output);
        Assert.Contains("'no-such-model'", build.Output);
        Assert.Contains(Path.Combine(temp.File("models"), "no-such-model"), build.Output);
    }

    /// <summary>A console project in a temporary folder that imports the SagePtq props and targets from the repository.</summary>
    private sealed class ConsumingProject
    {
        private readonly string dir;
        private readonly string extraProperties;

        public ConsumingProject(string dir, string models, string extraProperties = "")
        {
            this.dir = dir;
            this.extraProperties = extraProperties;
            File.WriteAllText(Path.Combine(dir, "Program.cs"), "System.Console.WriteLine(\"hello\");\n");
            SetModels(models);
        }

        public string OutDir => Path.Combine(dir, "bin", "Debug", "net10.0");

        public string OutputAssembly => Path.Combine(OutDir, "App.dll");

        public string Obj(string file, string model = "sagelm-7m") => Path.Combine(dir, "obj", "Debug", "net10.0", "sageptq", model, file);

        public void SetModels(string models)
        {
            string build = Path.Combine(TestAssets.RepoRoot, "src", "Tasks", "build");
            File.WriteAllText(Path.Combine(dir, "App.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <SagePtqTasksAssembly>{TaskTestAssets.TasksAssembly}</SagePtqTasksAssembly>
                    <SagePtqQuantizerPath>{TaskTestAssets.QuantizerPath}</SagePtqQuantizerPath>
                    <SagePtqBuiltInModelsDir>{TaskTestAssets.BuiltInModelsDir}</SagePtqBuiltInModelsDir>
                    {extraProperties}
                  </PropertyGroup>
                  <Import Project="{Path.Combine(build, "SagePtq.props")}" />
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                  </PropertyGroup>
                  <ItemGroup>
                    {models}
                  </ItemGroup>
                  <Import Project="{Path.Combine(build, "SagePtq.targets")}" />
                </Project>
                """);
        }

        public (int ExitCode, string Output) Build(params string[] extra) => Run(["build", "-v:n", .. extra]);

        public (int ExitCode, string Output) Run(params string[] args)
        {
            var start = new ProcessStartInfo("dotnet")
            {
                WorkingDirectory = dir,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (string arg in args) start.ArgumentList.Add(arg);
            foreach (string arg in new[] { "-nodeReuse:false", "-p:UseSharedCompilation=false", "--disable-build-servers" }) start.ArgumentList.Add(arg);
            // The test host's MSBuild settings must not leak into the child build.
            foreach (string name in new[] { "MSBuildExtensionsPath", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "MSBuildLoadMicrosoftTargetsReadOnly", "VSTEST_HOST_DEBUG" })
                start.Environment.Remove(name);
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment["DOTNET_NOLOGO"] = "1";
            start.Environment["MSBUILDTERMINALLOGGER"] = "off";

            using var process = Process.Start(start)!;
            var output = new StringBuilder();
            var error = process.StandardError.ReadToEndAsync();
            output.Append(process.StandardOutput.ReadToEnd());
            process.WaitForExit();
            output.Append(error.Result);
            return (process.ExitCode, output.ToString());
        }

        public IReadOnlyList<string> ResourceNames()
        {
            using var stream = File.OpenRead(OutputAssembly);
            using var pe = new PEReader(stream);
            var reader = pe.GetMetadataReader();
            return reader.ManifestResources.Select(h => reader.GetString(reader.GetManifestResource(h).Name)).Order(StringComparer.Ordinal).ToList();
        }

        public string AnalyzerConfig() =>
            File.ReadAllText(Path.Combine(dir, "obj", "Debug", "net10.0", "App.GeneratedMSBuildEditorConfig.editorconfig"));
    }
}
