using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using SagePtq.Tests;

namespace SagePtq.Tasks.Tests;

/// <summary>How a SagePtqModel ID becomes a checkpoint folder, and the error when it does not.</summary>
public sealed class ModelResolutionTests
{
    [Fact]
    public void PathMetadata_relative_to_the_project_wins_over_everything_else()
    {
        using var temp = TestAssets.NewTempDir();
        string project = Directory.CreateDirectory(temp.File("project")).FullName;
        string explicitDir = TaskTestAssets.FakeCheckpoint(temp.File("weights/mine"));
        TaskTestAssets.FakeCheckpoint(temp.File("models/sagelm-7m"));

        var found = ModelLocator.Find("sagelm-7m", "../weights/mine", Settings(temp, project, modelsDir: temp.File("models")));

        Assert.Equal(explicitDir, found.CheckpointDir);
    }

    [Fact]
    public void PathMetadata_that_is_not_a_checkpoint_is_not_found_and_nothing_else_is_tried()
    {
        using var temp = TestAssets.NewTempDir();
        TaskTestAssets.FakeCheckpoint(temp.File("models/sagelm-7m"));
        Directory.CreateDirectory(temp.File("empty"));

        var found = ModelLocator.Find("sagelm-7m", temp.File("empty"), Settings(temp, temp.Path, modelsDir: temp.File("models")));

        Assert.Null(found.CheckpointDir);
        Assert.Equal([temp.File("empty")], found.PlacesLookedAt);
    }

    [Fact]
    public void ModelsDir_holds_checkpoints_by_id()
    {
        using var temp = TestAssets.NewTempDir();
        string dir = TaskTestAssets.FakeCheckpoint(temp.File("models/my-model"));

        var found = ModelLocator.Find("my-model", null, Settings(temp, temp.Path, modelsDir: temp.File("models")));

        Assert.Equal(dir, found.CheckpointDir);
    }

    [Fact]
    public void HuggingFace_cache_uses_the_revision_refs_main_names()
    {
        using var temp = TestAssets.NewTempDir();
        string repo = temp.File("hf/hub/models--meta-llama--Llama-2-7b-hf");
        string named = TaskTestAssets.FakeCheckpoint(Path.Combine(repo, "snapshots", "aaaa1111"));
        string newer = TaskTestAssets.FakeCheckpoint(Path.Combine(repo, "snapshots", "bbbb2222"));
        Directory.SetLastWriteTimeUtc(named, DateTime.UtcNow.AddDays(-2));
        Directory.SetLastWriteTimeUtc(newer, DateTime.UtcNow);
        Directory.CreateDirectory(Path.Combine(repo, "refs"));
        File.WriteAllText(Path.Combine(repo, "refs", "main"), "aaaa1111\n");

        var found = ModelLocator.Find("llama2-7b", null, Settings(temp, temp.Path, hfHome: temp.File("hf")));

        Assert.Equal(named, found.CheckpointDir);
    }

    [Fact]
    public void HuggingFace_cache_without_refs_main_takes_the_newest_snapshot_that_has_a_config()
    {
        using var temp = TestAssets.NewTempDir();
        string snapshots = temp.File("hf/hub/models--meta-llama--Meta-Llama-3-8B/snapshots");
        string older = TaskTestAssets.FakeCheckpoint(Path.Combine(snapshots, "older"));
        string newer = TaskTestAssets.FakeCheckpoint(Path.Combine(snapshots, "newer"));
        string newestButIncomplete = Directory.CreateDirectory(Path.Combine(snapshots, "partial")).FullName;
        Directory.SetLastWriteTimeUtc(older, DateTime.UtcNow.AddDays(-3));
        Directory.SetLastWriteTimeUtc(newer, DateTime.UtcNow.AddDays(-1));
        Directory.SetLastWriteTimeUtc(newestButIncomplete, DateTime.UtcNow);

        var found = ModelLocator.Find("llama3-8b", null, Settings(temp, temp.Path, hfHome: temp.File("hf")));

        Assert.Equal(newer, found.CheckpointDir);
    }

    [Fact]
    public void Default_cache_is_searched_after_HF_HOME_and_takes_org_name_ids()
    {
        using var temp = TestAssets.NewTempDir();
        string dir = TaskTestAssets.FakeCheckpoint(temp.File("home-cache/hub/models--meta-llama--Llama-2-13b-hf/snapshots/rev"));
        Directory.CreateDirectory(temp.File("hf/hub"));

        var byAlias = ModelLocator.Find("llama2-13b", null, Settings(temp, temp.Path, hfHome: temp.File("hf"), defaultHfHome: temp.File("home-cache")));
        var byRepo = ModelLocator.Find("meta-llama/Llama-2-13b-hf", null, Settings(temp, temp.Path, defaultHfHome: temp.File("home-cache")));

        Assert.Equal(dir, byAlias.CheckpointDir);
        Assert.Equal(dir, byRepo.CheckpointDir);
        Assert.Equal(temp.File("hf/hub/models--meta-llama--Llama-2-13b-hf/snapshots/*"), byAlias.PlacesLookedAt[0]);
    }

    [Fact]
    public void Aliases_name_the_meta_llama_repositories()
    {
        Assert.Equal("meta-llama/Llama-2-7b-hf", ModelLocator.Aliases["llama2-7b"]);
        Assert.Equal("meta-llama/Llama-2-13b-hf", ModelLocator.Aliases["llama2-13b"]);
        Assert.Equal("meta-llama/Meta-Llama-3-8B", ModelLocator.Aliases["llama3-8b"]);
    }

    [Fact]
    public void BuiltIn_sagelm_7m_is_the_repository_model_and_comes_last()
    {
        using var temp = TestAssets.NewTempDir();

        var builtIn = ModelLocator.Find("sagelm-7m", null, Settings(temp, temp.Path, builtIn: TaskTestAssets.BuiltInModelsDir));
        string shadow = TaskTestAssets.FakeCheckpoint(temp.File("models/sagelm-7m"));
        var shadowed = ModelLocator.Find("sagelm-7m", null, Settings(temp, temp.Path, modelsDir: temp.File("models"), builtIn: TaskTestAssets.BuiltInModelsDir));

        Assert.Equal(TestAssets.EmbeddedModel, builtIn.CheckpointDir);
        Assert.Equal(shadow, shadowed.CheckpointDir);
    }

    [Fact]
    public void Missing_model_is_SPQ2001_naming_the_id_and_every_place_looked_at()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var task = ResolveTask(engine, temp, new TaskItem("llama2-7b"));
        task.ModelsDir = temp.File("models");
        task.HfHome = temp.File("hf");

        Assert.False(task.Execute());

        var error = Assert.Single(engine.Errors);
        Assert.Equal("SPQ2001", error.Code);
        Assert.Contains("'llama2-7b'", error.Message);
        Assert.Contains(Path.Combine(temp.File("models"), "llama2-7b"), error.Message);
        Assert.Contains(temp.File("hf/hub/models--meta-llama--Llama-2-7b-hf/snapshots/*"), error.Message);
        Assert.Contains("huggingface", error.Message);
        Assert.Empty(task.ResolvedModels);
    }

    [Fact]
    public void Resolved_item_carries_the_metadata_and_writes_the_hash_file()
    {
        using var temp = TestAssets.NewTempDir();
        File.WriteAllText(temp.File("calib.txt"), "some text\n\nmore text\n");
        var model = new TaskItem("sagelm-7m");
        model.SetMetadata("Method", "rtn");
        model.SetMetadata("Options", " group=64 ; clip=0.9 ");
        model.SetMetadata("Bits", "4");
        model.SetMetadata("Calibration", "calib.txt");
        model.SetMetadata("PackMode", "copy");
        model.SetMetadata("ClassName", "TinyModel");
        var engine = new FakeBuildEngine();
        var task = ResolveTask(engine, temp, model);

        Assert.True(task.Execute(), engine.Log);

        var item = Assert.Single(task.ResolvedModels);
        string outputDir = temp.File("obj/sageptq/sagelm-7m/");
        Assert.Equal(TestAssets.EmbeddedModel, item.GetMetadata("CheckpointDir"));
        Assert.Equal("rtn", item.GetMetadata("Method"));
        Assert.Equal("clip=0.9;group=64", item.GetMetadata("Options"));
        Assert.Equal("4", item.GetMetadata("Bits"));
        Assert.Equal(temp.File("calib.txt"), item.GetMetadata("Calibration"));
        Assert.Equal("Copy", item.GetMetadata("PackMode"));
        Assert.Equal("TinyModel", item.GetMetadata("ClassName"));
        Assert.Equal(outputDir, item.GetMetadata("OutputDir"));
        Assert.Equal(outputDir + "model.manifest.json", item.GetMetadata("ManifestPath"));
        Assert.Equal(item.GetMetadata("InputHash"), File.ReadAllText(outputDir + "inputs.hash").Trim());
        // Inputs: the hash file, every checkpoint file, the calibration text; each knows its manifest.
        var inputs = task.ModelInputs.Select(i => i.ItemSpec).ToList();
        Assert.Equal(outputDir + "inputs.hash", inputs[0]);
        Assert.Contains(Path.Combine(TestAssets.EmbeddedModel, "model.safetensors"), inputs);
        Assert.Contains(temp.File("calib.txt"), inputs);
        Assert.All(task.ModelInputs, i => Assert.Equal(outputDir + "model.manifest.json", i.GetMetadata("ManifestPath")));
    }

    [Fact]
    public void Default_method_is_sage()
    {
        using var temp = TestAssets.NewTempDir();
        var task = ResolveTask(new FakeBuildEngine(), temp, new TaskItem("sagelm-7m"));

        Assert.True(task.Execute());

        Assert.Equal("sage", task.ResolvedModels[0].GetMetadata("Method"));
    }

    [Theory]
    [InlineData("PackMode", "Zip", "PackMode 'Zip'")]
    [InlineData("Options", "group", "Options 'group'")]
    [InlineData("Options", "a=1;a=2", "given twice")]
    [InlineData("Calibration", "missing.txt", "does not exist")]
    public void Bad_metadata_is_SPQ2003_saying_what_is_wrong(string name, string value, string expected)
    {
        using var temp = TestAssets.NewTempDir();
        var model = new TaskItem("sagelm-7m");
        model.SetMetadata(name, value);
        var engine = new FakeBuildEngine();

        Assert.False(ResolveTask(engine, temp, model).Execute());

        var error = Assert.Single(engine.Errors);
        Assert.Equal("SPQ2003", error.Code);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Same_id_twice_is_SPQ2003()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();

        Assert.False(ResolveTask(engine, temp, new TaskItem("sagelm-7m"), new TaskItem("SageLM-7m")).Execute());

        Assert.Equal("SPQ2003", Assert.Single(engine.Errors).Code);
    }

    [Fact]
    public void Missing_quantizer_is_SPQ2004()
    {
        using var temp = TestAssets.NewTempDir();
        var engine = new FakeBuildEngine();
        var task = ResolveTask(engine, temp, new TaskItem("sagelm-7m"));
        task.QuantizerPath = temp.File("nowhere/sageptq.dll");

        Assert.False(task.Execute());

        Assert.Equal("SPQ2004", Assert.Single(engine.Errors).Code);
    }

    private static SagePtqResolveModels ResolveTask(IBuildEngine engine, TempDir temp, params ITaskItem[] models) => new()
    {
        BuildEngine = engine,
        Models = models,
        ProjectDirectory = temp.Path,
        OutputRoot = temp.File("obj/sageptq"),
        QuantizerPath = TaskTestAssets.QuantizerPath,
        BuiltInModelsDir = TaskTestAssets.BuiltInModelsDir,
    };

    private static ModelSearchSettings Settings(TempDir temp, string project, string modelsDir = "", string hfHome = "", string defaultHfHome = "", string builtIn = "") => new()
    {
        ProjectDir = project,
        ModelsDir = modelsDir,
        HfHome = hfHome,
        DefaultHfHome = defaultHfHome.Length > 0 ? defaultHfHome : temp.File("no-default-cache"),
        BuiltInModelsDir = builtIn,
    };
}
