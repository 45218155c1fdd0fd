using System.Text.Json;
using SagePtq.Tests;

namespace SagePtq.EndToEnd.Tests;

/// <summary>
/// Consuming apps built against the packed SagePtq package, as a user builds them: the model item
/// quantizes at the first build only, the generated class runs the pack the build made, and its
/// text is the reference's (fp16) or the CLI's (the default SAGE-PTQ method) to the token.
/// </summary>
[Collection(LocalFeedCollection.Name)]
public sealed class PackageTests(LocalFeed feed)
{
    /// <summary>What the build log says when the quantizer process is started (src/Tasks).</summary>
    private const string QuantizerStarted = "SagePtq: quantizing sagelm-7m";

    [Fact]
    public void An_fp16_app_prints_the_golden_greedy_continuations()
    {
        var app = new ConsumerApp(feed, "GoldenApp", """<SagePtqModel Include="sagelm-7m" Method="fp16" />""",
            ConsumerApp.GreedyProgram("GoldenApp", "SageLm7mModel"));
        app.Build().EnsureSuccess();

        var goldens = GoldenPrompts.Load(GoldenPrompts.SageLm7mPath);
        var continuations = app.Run([.. goldens.Select(g => g.Prompt)]);

        // Each continuation keeps the space that joins it to its prompt; the golden text was decoded alone.
        Assert.Equal(goldens.Select(g => " " + g.GreedyText), continuations);
    }

    [Fact]
    public void The_default_sage_app_quantizes_once_and_generates_what_sageptq_generate_does()
    {
        var app = new ConsumerApp(feed, "SageApp", """<SagePtqModel Include="sagelm-7m" />""",
            ConsumerApp.GreedyProgram("SageApp", "SageLm7mModel"));

        Assert.Contains(QuantizerStarted, app.Build().EnsureSuccess().Output);
        Assert.DoesNotContain(QuantizerStarted, app.Build().EnsureSuccess().Output);

        const string prompt = "The President said that";
        string fromApp = Assert.Single(app.Run(prompt));
        string quantizer = Path.Combine(feed.PackagesDirectory, "sageptq", feed.Version, "tools", "net10.0", "sageptq.dll");
        var cli = DotNet.Run(app.Directory, null, TimeSpan.FromMinutes(2), "exec", quantizer, "generate",
            "--pack", app.PackDirectory("sagelm-7m"), "--prompt", prompt, "--temperature", "0", "--max-tokens", "40", "--json").EnsureSuccess();
        using var json = JsonDocument.Parse(cli.StandardOutput);
        Assert.Equal(json.RootElement.GetProperty("text").GetString(), fromApp);

        // A changed option quantizes again.
        app.WriteProject(feed.Version, """<SagePtqModel Include="sagelm-7m" Bits="1.3" />""");
        Assert.Contains(QuantizerStarted, app.Build().EnsureSuccess().Output);
    }

    [Fact]
    public void The_dotnet_new_template_makes_an_app_that_builds_and_generates()
    {
        string hive = Path.Combine(feed.NewAppDirectory("template-hive"));
        string template = Path.Combine(TestAssets.RepoRoot, "templates", "SagePtq.ConsoleApp");
        DotNet.Run(hive, null, TimeSpan.FromMinutes(2), "new", "install", template, "--debug:custom-hive", hive).EnsureSuccess();
        string appDirectory = feed.NewAppDirectory("TemplateApp");
        DotNet.Run(appDirectory, null, TimeSpan.FromMinutes(2), "new", "sageptq-console", "-n", "TemplateApp", "-o", appDirectory,
            "--sageptqVersion", feed.Version, "--debug:custom-hive", hive).EnsureSuccess();

        DotNet.Run(appDirectory, null, TimeSpan.FromMinutes(5), "build", "-c", "Release", "-nodeReuse:false", "-p:UseSharedCompilation=false").EnsureSuccess();
        var run = DotNet.Run(appDirectory, null, TimeSpan.FromMinutes(2), "exec", Path.Combine(appDirectory, "bin", "Release", "net10.0", "TemplateApp.dll"), "The weather today").EnsureSuccess();

        Assert.StartsWith("The weather today", run.StandardOutput);
        Assert.True(run.StandardOutput.Trim().Length > "The weather today".Length + 10, $"the app generated nothing:\n{run.Output}");
    }
}
