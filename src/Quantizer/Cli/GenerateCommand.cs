using System.CommandLine;
using System.Diagnostics;
using SagePtq.Runtime;
using SagePtq.Runtime.Generation;

namespace SagePtq.Quantizer.Cli;

/// <summary><c>sageptq generate</c>: continue a prompt, streaming the text as it is generated.</summary>
internal static class GenerateCommand
{
    public static Command Create(CliContext context)
    {
        var source = new ModelSource(defaultPackBackend: "cpu");
        var prompt = new Option<string>("--prompt") { Description = "The text to continue.", Required = true };
        var defaults = new GenerationOptions();
        var maxTokens = new Option<int>("--max-tokens") { Description = "New tokens at most.", DefaultValueFactory = _ => 64 }.WithRange(0, 1 << 20);
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy; higher = more random.", DefaultValueFactory = _ => defaults.Temperature }.WithRange(0f, 100f);
        var topK = new Option<int>("--top-k") { Description = "Sample among the k most likely tokens; 0 = off.", DefaultValueFactory = _ => defaults.TopK }.WithRange(0, int.MaxValue);
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass in (0, 1]; 1 = off.", DefaultValueFactory = _ => defaults.TopP }.WithRange(float.Epsilon, 1f);
        var penalty = new Option<float>("--repetition-penalty") { Description = "Penalise tokens already seen (1 = off; 1.1 is typical).", DefaultValueFactory = _ => defaults.RepetitionPenalty }.WithRange(0.01f, 100f);
        var seed = new Option<ulong?>("--seed") { Description = "Seed: the same seed gives the same text. Default: random." };
        var stop = new Option<string[]>("--stop") { Description = "Stop before this text (repeatable).", AllowMultipleArgumentsPerToken = false };
        var ignoreEos = new Option<bool>("--ignore-eos") { Description = "Keep generating past the end-of-sequence token." };
        var json = CliOptions.Json();

        var command = new Command("generate", "Continue a prompt with a model.") { prompt, maxTokens, temperature, topK, topP, penalty, seed, stop, ignoreEos, json };
        foreach (var option in source.Options) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var options = new GenerationOptions
            {
                MaxTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                RepetitionPenalty = parse.GetValue(penalty),
                Seed = parse.GetValue(seed),
                StopSequences = parse.GetValue(stop) ?? [],
                StopAtEos = !parse.GetValue(ignoreEos),
            };
            var (forward, tokenizer, _, _) = source.Load(parse);
            using var model = new LanguageModel(forward, tokenizer, forward as IDisposable);

            string promptText = parse.GetValue(prompt)!;
            IEnumerable<GenerationUpdate> updates;
            try { updates = model.Stream(promptText, options, context.Cancellation); }
            catch (ArgumentException e) { throw new UsageException(e.Message); }

            bool asJson = parse.GetValue(json);
            var clock = Stopwatch.StartNew();
            var text = new System.Text.StringBuilder();
            GenerationSummary? summary = null;
            double? firstText = null; // the prompt's batch and the JIT's first compilations come before it
            if (!asJson) context.Output.Write(promptText);
            foreach (var update in updates)
            {
                summary ??= update.Summary;
                if (update.Text.Length > 0) firstText ??= clock.Elapsed.TotalSeconds;
                text.Append(update.Text);
                if (!asJson && update.Text.Length > 0)
                {
                    context.Output.Write(update.Text);
                    context.Output.Flush();
                }
            }
            double seconds = clock.Elapsed.TotalSeconds;
            int generated = summary!.GeneratedTokenCount;
            if (asJson)
            {
                CliOptions.WriteJson(context.Output, new
                {
                    prompt = promptText,
                    text = text.ToString(),
                    promptTokens = summary.PromptTokenCount,
                    generatedTokens = generated,
                    ids = summary.GeneratedIds,
                    finishReason = summary.FinishReason.ToString(),
                    seconds,
                    firstTextSeconds = firstText,
                });
            }
            else
            {
                context.Output.WriteLine();
                string after = firstText is double first && generated > 1 && seconds > first
                    ? $": first text after {first:F2} s, then {(generated - 1) / (seconds - first):F1} tok/s"
                    : $", {generated / Math.Max(seconds, 1e-9):F1} tok/s";
                context.Error.WriteLine($"[{generated} tokens in {seconds:F2} s{after}; ended by {summary.FinishReason}]");
            }
            return SagePtqCli.Success;
        });
        return command;
    }
}
