using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cuda.Interop;

/// <summary>The outcome of looking for a native library under its candidate names.</summary>
/// <param name="Handle">The loaded library, or zero when no candidate loaded.</param>
/// <param name="LoadedName">The candidate that loaded, or null.</param>
/// <param name="Reason">Why none loaded ("libcuda.so.1 not found (tried ...): no NVIDIA driver"), or null when one did.</param>
public sealed record NativeLibraryProbeResult(nint Handle, string? LoadedName, string? Reason)
{
    /// <summary>True when a candidate loaded.</summary>
    public bool Found => Handle != 0;
}

/// <summary>
/// Tries a list of library names in order and reports the first that loads, or a reason naming the
/// library and every name tried. Pure over the loader it is given, so the wording is unit-tested
/// without a driver.
/// </summary>
internal static class NativeLibraryProbe
{
    /// <summary>Loads the first candidate <paramref name="tryLoad"/> accepts; never throws for a missing library.</summary>
    /// <param name="candidates">Names in order of preference; the first is the one a reason names.</param>
    /// <param name="tryLoad">Returns the handle, or zero when the name does not load.</param>
    /// <param name="missingMeans">What a missing library means to the user ("no NVIDIA driver").</param>
    public static NativeLibraryProbeResult FirstThatLoads(IReadOnlyList<string> candidates, Func<string, nint> tryLoad, string missingMeans)
    {
        ArgumentNullException.ThrowIfNull(candidates);
        ArgumentNullException.ThrowIfNull(tryLoad);
        if (candidates.Count == 0) throw new ArgumentException("at least one library name is needed", nameof(candidates));
        foreach (var name in candidates)
        {
            var handle = tryLoad(name);
            if (handle != 0) return new NativeLibraryProbeResult(handle, name, null);
        }
        var tried = candidates.Count == 1 ? "" : $" (tried {string.Join(", ", candidates)})";
        return new NativeLibraryProbeResult(0, null, $"{candidates[0]} not found{tried}: {missingMeans}");
    }

    /// <summary><see cref="NativeLibrary.TryLoad(string, out nint)"/> as a loader: zero when the name does not load.</summary>
    public static nint TryLoadFromSystem(string name) =>
        NativeLibrary.TryLoad(name, typeof(NativeLibraryProbe).Assembly, DllImportSearchPath.SafeDirectories | DllImportSearchPath.System32, out var handle)
            ? handle
            : 0;
}
