using System.Diagnostics;

namespace SagePtq.Quantizer.Bench;

/// <summary>
/// How far apart this machine has put two threads: the time for a value to go from one thread to another and
/// back. On the shared development machine it is about 60–85 ns when the host runs both virtual cores in one core
/// complex and about 340 ns when it spreads them over two, which also gives each its own path to memory: the
/// two-thread streaming read then measures about 44 GB/s instead of about 31 (docs/runtime.md). <c>bench</c>
/// prints it beside the streaming read so that a share of that read can be told apart from where the cores sat.
/// </summary>
internal static class ThreadRoundTrip
{
    private const int WarmUpRounds = 2_000, Rounds = 20_000;

    /// <summary>Mean nanoseconds of a round trip to a second thread; null on a machine with one processor.</summary>
    public static double? Measure()
    {
        if (Environment.ProcessorCount < 2) return null;
        var turn = new Turn();
        var echo = new Thread(() =>
        {
            for (int i = 0; i < WarmUpRounds + Rounds; i++)
            {
                turn.WaitFor(2 * i + 1);
                Volatile.Write(ref turn.Value, 2 * i + 2);
            }
        }) { IsBackground = true, Name = "SagePtq round trip" };
        echo.Start();
        long start = 0;
        for (int i = 0; i < WarmUpRounds + Rounds; i++)
        {
            if (i == WarmUpRounds) start = Stopwatch.GetTimestamp();
            Volatile.Write(ref turn.Value, 2 * i + 1);
            turn.WaitFor(2 * i + 2);
        }
        double nanoseconds = Stopwatch.GetElapsedTime(start).TotalNanoseconds / Rounds;
        echo.Join();
        return nanoseconds;
    }

    /// <summary>The counter the two threads hand back and forth.</summary>
    private sealed class Turn
    {
        public int Value;

        /// <summary>Spins without pausing: a pause instruction would add its own tens of cycles to every trip.</summary>
        public void WaitFor(int value)
        {
            while (Volatile.Read(ref Value) != value) { }
        }
    }
}
