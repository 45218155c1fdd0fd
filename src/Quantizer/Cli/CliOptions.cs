using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using SagePtq.Runtime;

namespace SagePtq.Quantizer.Cli;

/// <summary>Options and output helpers shared by several verbs.</summary>
internal static class CliOptions
{
    public static Option<bool> Json() => new("--json") { Description = "Print one machine-readable JSON object instead of text." };

    public static Option<string> ModelDir(bool required = true) => new("--model")
    {
        Description = "A Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json).",
        Required = required,
    };

    public static Option<T> WithRange<T>(this Option<T> option, T min, T max) where T : IComparable<T>
    {
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<T>();
            if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
                result.AddError($"{option.Name} must be between {min} and {max}, not {value}.");
        });
        return option;
    }

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void WriteJson(TextWriter output, object value) => output.WriteLine(JsonSerializer.Serialize(value, s_json));

    /// <summary>Reads a whole UTF-8 text file, refusing a missing or empty one by name.</summary>
    public static string ReadText(string path)
    {
        if (!File.Exists(path)) throw new Runtime.ModelFileException(path, "file not found");
        string text = File.ReadAllText(path);
        if (string.IsNullOrWhiteSpace(text)) throw new Runtime.ModelFileException(path, "is empty: there is no text to read");
        return text;
    }

    /// <summary>Fails before the work, not after it, when the output folder cannot be made: its nearest existing ancestor must be a folder.</summary>
    /// <exception cref="ModelFileException">A file sits where a folder of the path should be.</exception>
    public static void CheckOutputFolder(string outDir)
    {
        var path = Path.GetFullPath(outDir);
        while (!Directory.Exists(path))
        {
            if (File.Exists(path)) throw new ModelFileException(path, "is a file, so the output folder cannot be created under it");
            path = Path.GetDirectoryName(path) ?? throw new ModelFileException(outDir, "no existing parent folder");
        }
    }
}
