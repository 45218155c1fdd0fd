namespace SagePtq.Runtime;

/// <summary>
/// A model, tokenizer, pack or text file that cannot be used as given. The message names the file
/// and says what is wrong ("model.safetensors: tensor X has shape [a, b], config.json says [c, d]"),
/// so that the CLI can print it as it is and exit non-zero instead of showing a stack trace.
/// </summary>
public sealed class ModelFileException : Exception
{
    public ModelFileException(string path, string problem, Exception? inner = null)
        : base($"{Path.GetFileName(path)}: {problem}", inner)
    {
        FilePath = path;
        Problem = problem;
    }

    /// <summary>The full path of the offending file (or folder).</summary>
    public string FilePath { get; }

    /// <summary>What is wrong, without the file name.</summary>
    public string Problem { get; }
}
