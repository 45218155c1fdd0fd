using System.CommandLine;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary><c>sageptq tokenize</c>: the ids a tokenizer gives a text, plainly or under the evaluation protocol.</summary>
internal static class TokenizeCommand
{
    public static Command Create(CliContext context)
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "A tokenizer.json, or a model folder holding one.", Required = true };
        var textFile = new Option<string?>("--text") { Description = "Tokenize the contents of this UTF-8 file." };
        var inline = new Option<string?>("--string") { Description = "Tokenize this string." };
        var protocol = new Option<bool>("--protocol") { Description = "Evaluation protocol: split into blank-line-separated documents, each prefixed with BOS." };
        var bos = new Option<bool>("--bos") { Description = "Prefix the ids with BOS (ignored with --protocol, which adds one per document)." };
        var json = CliOptions.Json();

        var command = new Command("tokenize", "Print the token ids of a text.") { tokenizer, textFile, inline, protocol, bos, json };
        command.Validators.Add(result =>
        {
            if ((result.GetValue(textFile) is null) == (result.GetValue(inline) is null))
                result.AddError("Give exactly one of --text FILE or --string S.");
        });
        command.SetAction(parse =>
        {
            var tok = TokenizerLocator.Load(parse.GetValue(tokenizer)!);
            string text = parse.GetValue(textFile) is { } path ? CliOptions.ReadText(path) : parse.GetValue(inline)!;
            int[] ids = parse.GetValue(protocol)
                ? EvaluationText.TokenizeDocuments(tok, text)
                : tok.Encode(text, addBos: parse.GetValue(bos));

            if (parse.GetValue(json))
                CliOptions.WriteJson(context.Output, new { count = ids.Length, ids });
            else
                context.Output.WriteLine(string.Join(' ', ids));
            return SagePtqCli.Success;
        });
        return command;
    }
}

/// <summary>Finds tokenizer.json given either the file or the model folder that holds it.</summary>
internal static class TokenizerLocator
{
    public static Tokenizer Load(string fileOrFolder) =>
        Tokenizer.Load(Directory.Exists(fileOrFolder) ? Path.Combine(fileOrFolder, Runtime.Checkpoints.Checkpoint.TokenizerFileName) : fileOrFolder);
}
