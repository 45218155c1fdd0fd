using Microsoft.Build.Framework;
using SagePtq.Tests;

namespace SagePtq.Tasks.Tests;

/// <summary>
/// SagePtqQuantize hosted by a fake engine, running the real quantizer (fp16 / rtn on sagelm-7m:
/// a second or two each): output relayed, failures mapped to SPQ2002, the lock and the stamp.
/// </summary>
public sealed class QuantizeTaskTests
{
    [Fact]
    public void Output_lines_progress_is_high_errors_are_kept_and_the_file_line_is_not_logged()
    {
        var output = new QuantizerOutput();

        Assert.Equal(MessageImportance.High, output.Accept("quantize rtn: 12/42 (0 s, about 1 s left)"));
        Assert.Equal(MessageImportance.Normal, output.Accept("wrote /x/model.sagepack (rtn, 42 linears)"));
        Assert.Equal(MessageImportance.Normal, output.Accept("error: config.json: is not valid JSON"));
        Assert.Null(output.Accept("sageptq-error-file: /models/x/config.json"));
        Assert.Equal(MessageImportance.Normal, output.Accept("error: a second error"));

        Assert.Equal("config.json: is not valid JSON", output.ErrorMessage);
        Assert.Equal("/models/x/config.json", output.ErrorFile);
    }

    [Fact]
    public void Machine_error_names_agree_with_the_quantizer_cli()
    {
        Assert.Equal(Quantizer.Cli.SagePtqCli.MachineErrorsVariable, QuantizerOutput.MachineErrorsVariable);
        Assert.Equal(Quantizer.Cli.SagePtqCli.ErrorFilePrefix, QuantizerOutput.ErrorFilePrefix);
    }

    [Fact]
    public void Quantizes_into_place_with_a_stamp_then_a_second_run_with_the_same_hash_does_nothing()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var first = QuantizeTask(engine, temp.File("out"), "hash-1");

        Assert.True(first.Execute(), engine.Log);

        Assert.True(first.Quantized);
        Assert.True(File.Exists(temp.File("out/model.sagepack")));
        Assert.True(File.Exists(temp.File("out/model.manifest.json")));
        Assert.Equal("hash-1", File.ReadAllText(temp.File("out/.complete")).Trim());
        Assert.Empty(Directory.GetDirectories(temp.File("out")));
        Assert.Contains(engine.Messages, m => m.Importance == MessageImportance.High && m.Message!.Contains("quantize fp16: 42/42"));
        Assert.True(engine.Logged("--method fp16"));

        var again = new FakeBuildEngine();
        var second = QuantizeTask(again, temp.File("out"), "hash-1");
        Assert.True(second.Execute(), again.Log);
        Assert.False(second.Quantized);
        Assert.True(again.Logged("is up to date"));
    }

    [Fact]
    public void Metadata_reaches_the_command_line()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var task = QuantizeTask(engine, temp.File("out"), "h");
        task.Method = "rtn";
        task.Bits = "8";
        task.Seed = "3";
        task.Embeddings = "8";
        task.Options = "group_size=32;clip_ratio=1";

        task.Execute();

        string command = engine.Messages.OfType<TaskCommandLineEventArgs>().Single().CommandLine;
        Assert.Contains("quantize --model ", command);
        Assert.Contains("--method rtn", command);
        Assert.Contains("--bits 8", command);
        Assert.Contains("--seed 3", command);
        Assert.Contains("--embeddings 8", command);
        Assert.Contains("--option group_size=32", command);
        Assert.Contains("--option clip_ratio=1", command);
    }

    [Fact]
    public void Bad_checkpoint_is_SPQ2002_pointing_at_the_file_with_the_exit_code()
    {
        using var temp = TestAssets.NewTempDir();
        string checkpoint = Directory.CreateDirectory(temp.File("broken")).FullName;
        foreach (string file in Directory.GetFiles(TestAssets.EmbeddedModel)) File.Copy(file, Path.Combine(checkpoint, Path.GetFileName(file)));
        File.WriteAllText(Path.Combine(checkpoint, "config.json"), "{");
        var engine = new FakeBuildEngine();
        var task = QuantizeTask(engine, temp.File("out"), "h");
        task.CheckpointDir = checkpoint;

        Assert.False(task.Execute());

        var error = Assert.Single(engine.Errors);
        Assert.Equal("SPQ2002", error.Code);
        Assert.Equal(Path.Combine(checkpoint, "config.json"), error.File);
        Assert.Contains("exit code 1", error.Message);
        Assert.Contains("config.json: is not valid JSON", error.Message);
        Assert.False(File.Exists(temp.File("out/model.manifest.json")));
        Assert.False(File.Exists(temp.File("out/.complete")));
        Assert.Empty(Directory.GetDirectories(temp.File("out")));
    }

    [Fact]
    public void Refused_option_is_SPQ2002_with_the_quantizers_message()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var task = QuantizeTask(engine, temp.File("out"), "h");
        task.Method = "rtn";
        task.Options = "no_such_option=1";

        Assert.False(task.Execute());

        var error = Assert.Single(engine.Errors);
        Assert.Equal("SPQ2002", error.Code);
        Assert.Contains("exit code 2", error.Message);
        Assert.Contains("no_such_option", error.Message);
    }

    [Fact]
    public async Task Two_builds_at_once_one_quantizes_the_other_waits_and_finds_it_done()
    {
        using var temp = TestAssets.NewTempDir();
        string output = temp.File("out");
        var engines = new[] { new FakeBuildEngine(), new FakeBuildEngine() };
        var tasks = engines.Select(e => QuantizeTask(e, output, "hash-shared")).ToArray();

        // Hold the lock so both must wait, then let them race for it.
        var held = OutputFolderLock.Acquire(output, TimeSpan.Zero, TimeSpan.Zero, () => { }, default)!;
        var runs = tasks.Select(t => Task.Run(t.Execute)).ToArray();
        var waitedFor = DateTime.UtcNow.AddSeconds(30);
        while (!engines.All(e => e.Logged("waiting for another build quantizing sagelm-7m")) && DateTime.UtcNow < waitedFor)
            await Task.Delay(20);
        Assert.All(engines, e => Assert.True(e.Logged("waiting for another build quantizing sagelm-7m"), e.Log));
        Assert.False(File.Exists(Path.Combine(output, "model.manifest.json")));
        held.Dispose();
        bool[] results = await Task.WhenAll(runs);

        Assert.All(results, Assert.True);
        Assert.Equal(1, tasks.Count(t => t.Quantized));
        Assert.Equal(1, engines.Sum(e => e.Count("SagePtq: quantizing sagelm-7m")));
        Assert.Equal("hash-shared", File.ReadAllText(Path.Combine(output, ".complete")).Trim());
        string manifest = File.ReadAllText(Path.Combine(output, "model.manifest.json"));
        using (System.Text.Json.JsonDocument.Parse(manifest)) { }
        Assert.Empty(Directory.GetDirectories(output));
    }

    [Fact]
    public async Task Cancelling_the_build_kills_the_quantizer_and_leaves_no_pack()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var task = QuantizeTask(engine, temp.File("out"), "h");
        task.Method = "sage";  // several seconds: time to cancel it midway

        var run = Task.Run(task.Execute);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!engine.Logged("quantize sage: ") && !run.IsCompleted && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(engine.Logged("quantize sage: "), engine.Log);
        task.Cancel();
        bool succeeded = await run;

        Assert.False(succeeded);
        Assert.False(task.Quantized);
        Assert.DoesNotContain(engine.Errors, e => e.Code == "SPQ2002");
        Assert.False(File.Exists(temp.File("out/model.manifest.json")));
        Assert.False(File.Exists(temp.File("out/.complete")));
        Assert.Empty(Directory.GetDirectories(temp.File("out")));
    }

    [Fact]
    public void Lock_held_past_the_timeout_is_SPQ2005()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var task = QuantizeTask(engine, temp.File("out"), "h");
        task.LockTimeoutSeconds = 0;

        using (OutputFolderLock.Acquire(temp.File("out"), TimeSpan.Zero, TimeSpan.Zero, () => { }, default))
            Assert.False(task.Execute());

        Assert.Equal("SPQ2005", Assert.Single(engine.Errors).Code);
        Assert.False(task.Quantized);
    }

    [Fact]
    public void Lock_is_exclusive_until_released()
    {
        using var temp = TestAssets.NewTempDir();
        int waits = 0;

        using (OutputFolderLock.Acquire(temp.Path, TimeSpan.Zero, TimeSpan.Zero, () => { }, default))
            Assert.Null(OutputFolderLock.Acquire(temp.Path, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(10), () => waits++, default));
        using var again = OutputFolderLock.Acquire(temp.Path, TimeSpan.Zero, TimeSpan.Zero, () => { }, default);

        Assert.NotNull(again);
        Assert.Equal(1, waits);
    }

    private static SagePtqQuantize QuantizeTask(IBuildEngine engine, string outputDir, string hash) => new()
    {
        BuildEngine = engine,
        ModelId = "sagelm-7m",
        CheckpointDir = TestAssets.EmbeddedModel,
        OutputDir = outputDir,
        InputHash = hash,
        QuantizerPath = TaskTestAssets.QuantizerPath,
        Method = "fp16",
    };
}
