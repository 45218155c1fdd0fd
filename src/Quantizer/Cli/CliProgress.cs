using Spectre.Console;

namespace SagePtq.Quantizer.Cli;

/// <summary>
/// A progress bar with ETA on standard error for long work (evaluation windows, later quantized
/// layers). Standard output stays clean for results and <c>--json</c>. When standard error is not a
/// terminal (CI, a build log), a line is printed every tenth of the work instead of a live bar.
/// </summary>
internal static class CliProgress
{
    public static T Run<T>(CliContext context, string description, int total, Func<Action<int>, T> work)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(context.Error) });
        if (!console.Profile.Capabilities.Interactive || context.Error != Console.Error)
            return work(CreateLineReporter(context.Error, description, total));

        T result = default!;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(description, maxValue: total);
                result = work(done => task.Value = done);
            });
        return result;
    }

    private static Action<int> CreateLineReporter(TextWriter error, string description, int total)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int step = Math.Max(1, total / 10), nextReport = step;
        return done =>
        {
            if (done < nextReport && done != total) return;
            nextReport = done + step;
            double eta = done > 0 ? clock.Elapsed.TotalSeconds / done * (total - done) : 0;
            error.WriteLine($"{description}: {done}/{total} ({clock.Elapsed.TotalSeconds:F0} s, about {eta:F0} s left)");
        };
    }
}

/// <summary>Reports on the calling thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
internal sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
