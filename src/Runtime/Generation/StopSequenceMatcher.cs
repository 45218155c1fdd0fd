namespace SagePtq.Runtime.Generation;

/// <summary>
/// Finds stop sequences in streamed text. Text that could still turn out to be the start of a stop
/// sequence is held back until it cannot, so a caller never prints the first half of
/// "\nUser:" and then has to take it back.
/// </summary>
internal sealed class StopSequenceMatcher(IReadOnlyList<string> stopSequences)
{
    private string _pending = "";

    /// <summary>True once a stop sequence has been seen; later text is ignored.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds newly decoded text and returns what is safe to emit now.</summary>
    public string Push(string text)
    {
        if (Stopped) return "";
        _pending += text;
        int stopAt = EarliestStop(_pending);
        if (stopAt >= 0)
        {
            Stopped = true;
            string ready = _pending[..stopAt];
            _pending = "";
            return ready;
        }
        int keep = LongestSuffixThatStartsAStop(_pending);
        string safe = _pending[..^keep];
        _pending = _pending[^keep..];
        return safe;
    }

    /// <summary>The held-back text, once generation has ended (it cannot complete a stop sequence any more).</summary>
    public string Finish()
    {
        string rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }

    private int EarliestStop(string text)
    {
        int earliest = -1;
        foreach (var stop in stopSequences)
        {
            if (stop.Length == 0) continue;
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (earliest < 0 || at < earliest)) earliest = at;
        }
        return earliest;
    }

    private int LongestSuffixThatStartsAStop(string text)
    {
        int longest = 0;
        foreach (var stop in stopSequences)
            for (int length = Math.Min(stop.Length - 1, text.Length); length > longest; length--)
                if (text.AsSpan(text.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    longest = length;
                    break;
                }
        return longest;
    }
}
