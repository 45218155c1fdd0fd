using System.Threading;

namespace SagePtq.Tasks;

/// <summary>
/// An exclusive lock on a model's output folder, held by an open file with no sharing (an OS file
/// lock on every platform .NET runs on), so two builds, in one process or two, never quantize into
/// the same folder at once. The lock file stays; only the open handle is the lock.
/// </summary>
internal sealed class OutputFolderLock : IDisposable
{
    private readonly FileStream handle;

    private OutputFolderLock(FileStream handle) => this.handle = handle;

    /// <summary>Takes the lock, retrying every <paramref name="pollInterval"/>; <paramref name="onWait"/> runs once, on the first refusal.</summary>
    /// <returns>The lock, or null when <paramref name="timeout"/> passed or <paramref name="cancellation"/> was set first.</returns>
    public static OutputFolderLock? Acquire(string folder, TimeSpan timeout, TimeSpan pollInterval, Action onWait, CancellationToken cancellation)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, OutputFiles.Lock);
        var deadline = DateTime.UtcNow + timeout;
        bool told = false;
        while (true)
        {
            try
            {
                return new OutputFolderLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (!cancellation.IsCancellationRequested)
            {
                // Held by another build (a sharing violation on Windows, a refused flock on Unix).
            }
            catch (UnauthorizedAccessException) when (!cancellation.IsCancellationRequested)
            {
                // Windows reports a file being deleted or replaced this way; it passes.
            }
            if (!told) { told = true; onWait(); }
            if (DateTime.UtcNow >= deadline || cancellation.WaitHandle.WaitOne(pollInterval)) return null;
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose() => handle.Dispose();
}
