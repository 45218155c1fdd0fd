using SagePtq.Runtime.Tests.Tokenization;
using static SagePtq.Runtime.Tests.Api.EmbeddedLanguageModel;

namespace SagePtq.Runtime.Tests.Api;

/// <summary>One generation at a time per instance, cancellation and disposal (see the LanguageModel remarks).</summary>
public sealed class LanguageModelConcurrencyTests
{
    private static (LanguageModel Model, OverlapProbe Probe) Probed(IDisposable? owner = null)
    {
        var probe = new OverlapProbe(Forward());
        return (new LanguageModel(probe, EmbeddedTokenizerTests.Embedded, owner), probe);
    }

    [Fact]
    public async Task Two_threads_on_one_instance_both_get_the_single_threaded_result()
    {
        var (model, probe) = Probed();
        using var _ = model;
        using var start = new Barrier(2);
        var tasks = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            return model.Generate(Golden.Prompt, GoldenOptions);
        }, TaskCreationOptions.LongRunning)).ToArray();

        Assert.All(await Task.WhenAll(tasks), text => Assert.Equal(GoldenContinuation, text));
        Assert.Equal(1, probe.MaxInside);   // never two calls inside the model at once
    }

    [Fact]
    public async Task GenerateAsync_computes_off_the_callers_thread_and_Generate_on_it()
    {
        var (model, probe) = Probed();
        using var _ = model;
        // A thread of its own, so that no continuation or pool work item can be running on it.
        var callers = new System.Collections.Concurrent.ConcurrentBag<int>();
        await Task.Factory.StartNew(() =>
        {
            callers.Add(Environment.CurrentManagedThreadId);
            var stream = model.GenerateAsync(Golden.Prompt, GoldenOptions).GetAsyncEnumerator();
            // Step by step from this thread; the probe records which threads ran the forward passes.
            while (stream.MoveNextAsync().AsTask().GetAwaiter().GetResult()) { }
            stream.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }, TaskCreationOptions.LongRunning);
        Assert.NotEmpty(probe.StepThreads);
        Assert.DoesNotContain(callers.Single(), probe.StepThreads);

        probe.StepThreads.Clear();
        await Task.Factory.StartNew(() =>
        {
            callers.Clear();
            callers.Add(Environment.CurrentManagedThreadId);
            model.Generate(Golden.Prompt, GoldenOptions);
        }, TaskCreationOptions.LongRunning);
        Assert.All(probe.StepThreads, id => Assert.Equal(callers.Single(), id));
    }

    [Fact]
    public async Task A_stream_started_while_another_holds_the_model_runs_after_it()
    {
        var (model, probe) = Probed();
        using var _ = model;
        using var first = model.Stream(Golden.Prompt, GoldenOptions).GetEnumerator();
        Assert.True(first.MoveNext());                       // the first generation now holds the model
        var second = model.GenerateAsync(Golden.Prompt, GoldenOptions).ToListAsync().AsTask();

        var firstText = first.Current.Text;
        while (first.MoveNext()) firstText += first.Current.Text;
        first.Dispose();

        Assert.Equal(GoldenContinuation, firstText);
        Assert.Equal(GoldenContinuation, string.Concat(await second));
        Assert.Equal(1, probe.MaxInside);
    }

    [Fact]
    public async Task Cancelling_after_the_first_piece_stops_at_once_and_leaves_the_instance_usable()
    {
        var (model, probe) = Probed();
        using var _ = model;
        foreach (bool viaWithCancellation in new[] { false, true })
        {
            using var cancellation = new CancellationTokenSource();
            var stream = viaWithCancellation
                ? model.GenerateAsync(Golden.Prompt, GoldenOptions).WithCancellation(cancellation.Token)
                : model.GenerateAsync(Golden.Prompt, GoldenOptions, cancellation.Token).WithCancellation(default);
            var pieces = new List<string>();
            int stepsAtCancel = -1;
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await foreach (string piece in stream)
                {
                    pieces.Add(piece);
                    stepsAtCancel = probe.Steps;
                    cancellation.Cancel();
                }
            });
            Assert.Single(pieces);
            Assert.Equal(stepsAtCancel, probe.Steps);   // no forward step after the cancel
        }
        Assert.Equal(GoldenContinuation, model.Generate(Golden.Prompt, GoldenOptions));
        Assert.Equal(GoldenContinuation, string.Concat(await model.GenerateAsync(Golden.Prompt, GoldenOptions).ToListAsync()));
    }

    [Fact]
    public void Cancelling_a_synchronous_generate_stops_before_the_next_token()
    {
        var (model, probe) = Probed();
        using var _ = model;
        using var cancellation = new CancellationTokenSource();
        probe.OnStep = step => { if (step == 3) cancellation.Cancel(); };
        Assert.ThrowsAny<OperationCanceledException>(() => model.Generate(Golden.Prompt, GoldenOptions, cancellation.Token));
        Assert.Equal(3, probe.Steps);
        probe.OnStep = null;

        // A token cancelled before the call touches nothing.
        int before = probe.Steps;
        Assert.ThrowsAny<OperationCanceledException>(() => model.Generate(Golden.Prompt, GoldenOptions, cancellation.Token));
        Assert.Equal(before, probe.Steps);
        Assert.Equal(GoldenContinuation, model.Generate(Golden.Prompt, GoldenOptions));
    }

    [Fact]
    public async Task After_dispose_every_call_throws_and_the_owner_is_released_once()
    {
        var owner = new DisposalProbe();
        var model = Create(owner);
        model.Dispose();
        model.Dispose();

        Assert.Equal(1, owner.Disposals);
        Assert.Throws<ObjectDisposedException>(() => model.Generate("Hi"));
        Assert.Throws<ObjectDisposedException>(() => model.GenerateAsync("Hi"));
        Assert.Throws<ObjectDisposedException>(() => model.Stream("Hi"));
        Assert.Throws<ObjectDisposedException>(() => model.StreamAsync("Hi"));
        Assert.Throws<ObjectDisposedException>(() => model.CountTokens("Hi"));

        // A stream prepared before Dispose but enumerated after it fails too, and releases nothing twice.
        var model2 = Create(owner);
        var late = model2.GenerateAsync("Hi", GoldenOptions);
        model2.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await late.ToListAsync());
        Assert.Equal(2, owner.Disposals);
    }

    [Fact]
    public async Task Dispose_during_a_stream_stops_it_and_releases_the_owner_when_it_lets_go()
    {
        var owner = new DisposalProbe();
        var model = Create(owner);
        var pieces = new List<string>();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            await foreach (string piece in model.GenerateAsync(Golden.Prompt, GoldenOptions))
            {
                pieces.Add(piece);
                model.Dispose();                     // returns at once, even from inside the loop
                Assert.Equal(0, owner.Disposals);    // the stream still holds the model
            }
        });
        Assert.Single(pieces);
        Assert.Equal(1, owner.Disposals);
    }

    [Fact]
    public async Task Dispose_from_another_thread_stops_a_running_generate()
    {
        var owner = new DisposalProbe();
        var (model, probe) = Probed(owner);
        using var atStep5 = new ManualResetEventSlim();
        using var disposed = new ManualResetEventSlim();
        probe.OnStep = step =>
        {
            if (step != 5) return;
            atStep5.Set();
            disposed.Wait();
        };
        var generation = Task.Factory.StartNew(() => model.Generate(Golden.Prompt, GoldenOptions), TaskCreationOptions.LongRunning);

        atStep5.Wait();
        model.Dispose();
        Assert.Equal(0, owner.Disposals);            // the generation is inside step 5
        disposed.Set();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => generation);
        Assert.Equal(5, probe.Steps);
        Assert.Equal(1, owner.Disposals);
    }

    [Fact]
    public async Task A_caller_waiting_for_the_model_when_it_is_disposed_gets_ObjectDisposedException()
    {
        var owner = new DisposalProbe();
        var model = Create(owner);
        var holder = model.Stream(Golden.Prompt, GoldenOptions).GetEnumerator();
        Assert.True(holder.MoveNext());
        var waiter = model.GenerateAsync(Golden.Prompt, GoldenOptions).ToListAsync().AsTask(); // waits at the gate

        model.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiter);
        Assert.Equal(0, owner.Disposals);            // the holder still has the model
        Assert.Throws<ObjectDisposedException>(() => holder.MoveNext());
        Assert.Equal(1, owner.Disposals);            // it let go as its generation stopped
        holder.Dispose();
        Assert.Equal(1, owner.Disposals);
    }
}
