using SagePtq.Tests;

namespace SagePtq.Tasks.Tests;

/// <summary>The input hash changes exactly when something that decides the pack does.</summary>
public sealed class InputHashTests
{
    [Fact]
    public void Same_inputs_give_the_same_hash()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);

        Assert.Equal(InputHash.Compute(inputs), InputHash.Compute(Inputs(temp)));
        Assert.Matches("^[0-9a-f]{64}$", InputHash.Compute(inputs));
    }

    [Theory]
    [InlineData("method")]
    [InlineData("options")]
    [InlineData("bits")]
    [InlineData("seed")]
    [InlineData("embeddings")]
    public void A_changed_setting_changes_the_hash(string setting)
    {
        using var temp = TestAssets.NewTempDir();
        string before = InputHash.Compute(Inputs(temp));
        var changed = Inputs(temp);
        switch (setting)
        {
            case "method": changed.Method = "sage"; break;
            case "options": changed.Options = "group=64"; break;
            case "bits": changed.Bits = "3"; break;
            case "seed": changed.Seed = "7"; break;
            case "embeddings": changed.Embeddings = "4"; break;
        }

        Assert.NotEqual(before, InputHash.Compute(changed));
    }

    [Fact]
    public void Touching_a_checkpoint_file_changes_the_hash()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);
        string before = InputHash.Compute(inputs);

        File.SetLastWriteTimeUtc(temp.File("ckpt/model.safetensors"), DateTime.UtcNow.AddMinutes(5));

        Assert.NotEqual(before, InputHash.Compute(inputs));
    }

    [Fact]
    public void Resizing_a_checkpoint_file_changes_the_hash_even_with_its_old_time()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);
        string weights = temp.File("ckpt/model.safetensors");
        var time = File.GetLastWriteTimeUtc(weights);
        string before = InputHash.Compute(inputs);

        File.AppendAllText(weights, "x");
        File.SetLastWriteTimeUtc(weights, time);

        Assert.NotEqual(before, InputHash.Compute(inputs));
    }

    [Fact]
    public void A_new_checkpoint_file_changes_the_hash()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);
        string before = InputHash.Compute(inputs);

        File.WriteAllText(temp.File("ckpt/tokenizer.json"), "{}");

        Assert.NotEqual(before, InputHash.Compute(inputs));
    }

    [Fact]
    public void Editing_the_calibration_text_changes_the_hash_even_at_the_same_size_and_time()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);
        inputs.CalibrationPath = temp.File("calib.txt");
        File.WriteAllText(inputs.CalibrationPath, "the cat sat");
        var time = File.GetLastWriteTimeUtc(inputs.CalibrationPath);
        string before = InputHash.Compute(inputs);

        File.WriteAllText(inputs.CalibrationPath, "the dog sat");
        File.SetLastWriteTimeUtc(inputs.CalibrationPath, time);

        Assert.NotEqual(before, InputHash.Compute(inputs));
    }

    [Fact]
    public void A_different_quantizer_build_changes_the_hash()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);
        string before = InputHash.Compute(inputs);

        File.WriteAllText(temp.File("tool/SagePtq.Runtime.dll"), "another runtime build");

        Assert.NotEqual(before, InputHash.Compute(inputs));
    }

    [Fact]
    public void Options_are_normalized_so_their_order_does_not_matter()
    {
        Assert.Equal("a=1;b=x y", InputHash.NormalizeOptions(" B = x y ;a=1;"));
        Assert.Equal(InputHash.NormalizeOptions("a=1;b=2"), InputHash.NormalizeOptions("b=2;a=1"));
        Assert.Equal("", InputHash.NormalizeOptions(""));
        Assert.Throws<ArgumentException>(() => InputHash.NormalizeOptions("a"));
        Assert.Throws<ArgumentException>(() => InputHash.NormalizeOptions("=1"));
        Assert.Throws<ArgumentException>(() => InputHash.NormalizeOptions("a=1;A=2"));
    }

    [Fact]
    public void Hash_file_is_written_only_when_the_hash_differs()
    {
        using var temp = TestAssets.NewTempDir();
        string file = temp.File("out/inputs.hash");

        Assert.True(InputHash.WriteIfChanged(file, "abc"));
        var old = DateTime.UtcNow.AddHours(-1);
        File.SetLastWriteTimeUtc(file, old);
        Assert.False(InputHash.WriteIfChanged(file, "abc"));
        Assert.Equal(old, File.GetLastWriteTimeUtc(file));
        Assert.True(InputHash.WriteIfChanged(file, "def"));
        Assert.Equal("def", File.ReadAllText(file).Trim());
    }

    [Fact]
    public void Missing_quantizer_is_refused_by_name()
    {
        using var temp = TestAssets.NewTempDir();
        var inputs = Inputs(temp);
        inputs.QuantizerPath = temp.File("tool/absent.dll");

        var e = Assert.Throws<FileNotFoundException>(() => InputHash.Compute(inputs));
        Assert.Contains("absent.dll", e.Message);
    }

    private static QuantizeInputs Inputs(TempDir temp)
    {
        if (!Directory.Exists(temp.File("ckpt"))) TaskTestAssets.FakeCheckpoint(temp.File("ckpt"));
        Directory.CreateDirectory(temp.File("tool"));
        if (!File.Exists(temp.File("tool/sageptq.dll"))) File.WriteAllText(temp.File("tool/sageptq.dll"), "quantizer");
        return new QuantizeInputs
        {
            Method = "rtn",
            Options = "",
            Bits = "4",
            Seed = "",
            Embeddings = "",
            QuantizerPath = temp.File("tool/sageptq.dll"),
            CalibrationPath = "",
            CheckpointDir = temp.File("ckpt"),
        };
    }
}
