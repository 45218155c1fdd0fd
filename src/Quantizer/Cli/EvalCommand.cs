using System.CommandLine;
using System.Diagnostics;
using SagePtq.Runtime;
using SagePtq.Runtime.Reference;
using SagePtq.Runtime.Tokenization;

namespace SagePtq.Quantizer.Cli;

/// <summary><c>sageptq eval</c>: perplexity of a model on a text, by the protocol of DESIGN.md §4.</summary>
internal static class EvalCommand
{
    public static Command Create(CliContext context)
    {
        var source = new ModelSource(defaultPackBackend: "reference");
        var textFile = new Option<string>("--text") { Description = "UTF-8 text; documents separated by a blank line, each prefixed with BOS.", Required = true };
        var seq = new Option<int>("--seq") { Description = "Tokens per window.", DefaultValueFactory = _ => Perplexity.DefaultWindowLength }.WithRange(2, 1 << 20);
        var maxWindows = new Option<int?>("--max-windows") { Description = "Evaluate only the first N windows (default: all)." };
        maxWindows.Validators.Add(r => { if (r.GetValueOrDefault<int?>() is <= 0) r.AddError("--max-windows must be positive."); });
        var json = CliOptions.Json();

        var command = new Command("eval", "Perplexity on a text: non-overlapping windows, mean next-token NLL.") { textFile, seq, maxWindows, json };
        foreach (var option in source.Options) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string textPath = parse.GetValue(textFile)!;
            int window = parse.GetValue(seq);

            var clock = Stopwatch.StartNew();
            var (reference, tokenizer, label, dir) = source.Load(parse);
            using var disposeModel = reference as IDisposable;
            if (window > reference.Config.MaxPositionEmbeddings)
                throw new UsageException($"--seq {window} is longer than the model's context: max_position_embeddings is {reference.Config.MaxPositionEmbeddings} in config.json.");
            int[] tokens = EvaluationText.TokenizeDocuments(tokenizer, CliOptions.ReadText(textPath));
            if (tokens.Length < window)
                throw new ModelFileException(textPath, $"has {tokens.Length} tokens, fewer than one window of {window}: use a longer text or a smaller --seq.");

            int windows = Math.Min(tokens.Length / window, parse.GetValue(maxWindows) ?? int.MaxValue);
            var result = CliProgress.Run(context, $"eval {label}", windows, report =>
                Perplexity.Evaluate(reference, tokens, window, windows, new InlineProgress<int>(done => report(done + 1)), context.Cancellation));
            double seconds = clock.Elapsed.TotalSeconds;

            if (parse.GetValue(json))
            {
                CliOptions.WriteJson(context.Output, new
                {
                    model = Path.GetFullPath(dir),
                    source = label,
                    text = Path.GetFullPath(textPath),
                    perplexity = result.Perplexity,
                    meanNll = result.MeanNll,
                    windows = result.Windows,
                    windowLength = window,
                    predictions = result.Predictions,
                    tokensInText = tokens.Length,
                    seconds,
                });
            }
            else
            {
                context.Output.WriteLine($"perplexity {result.Perplexity:F2}");
                context.Output.WriteLine($"  {result.Windows} windows of {window} tokens ({result.Predictions:N0} predictions, mean NLL {result.MeanNll:F6}), {seconds:F0} s");
            }
            return SagePtqCli.Success;
        });
        return command;
    }
}
