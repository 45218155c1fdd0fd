using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// Work recorded once from a stream and replayed with one launch (the decode step's form: dozens of kernel
/// launches become one call). Kernel arguments are captured by value at capture time, so a replay reads and
/// writes the same device buffers.
/// </summary>
public sealed unsafe class CudaGraph : IDisposable
{
    private nint graph;
    private nint executable;

    private CudaGraph(nint graph, nint executable)
    {
        this.graph = graph;
        this.executable = executable;
    }

    /// <summary>
    /// Records what <paramref name="record"/> queues on <paramref name="stream"/> (nothing runs while capturing)
    /// and instantiates it. If <paramref name="record"/> throws, the capture is ended and discarded.
    /// </summary>
    public static CudaGraph Capture(CudaStream stream, Action<CudaStream> record, CudaCaptureMode mode = CudaCaptureMode.ThreadLocal)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(record);
        CudaDriver.Check(CudaDriver.cuStreamBeginCapture_v2(stream.Handle, mode), nameof(CudaDriver.cuStreamBeginCapture_v2));
        nint captured = 0;
        try
        {
            record(stream);
        }
        catch
        {
            CudaDriver.cuStreamEndCapture(stream.Handle, &captured);
            if (captured != 0) CudaDriver.cuGraphDestroy(captured);
            throw;
        }
        CudaDriver.Check(CudaDriver.cuStreamEndCapture(stream.Handle, &captured), nameof(CudaDriver.cuStreamEndCapture));
        nint executable;
        var result = CudaDriver.cuGraphInstantiateWithFlags(&executable, captured, 0);
        if (result != CudaResult.Success)
        {
            CudaDriver.cuGraphDestroy(captured);
            throw CudaException.FromDriver(nameof(CudaDriver.cuGraphInstantiateWithFlags), result);
        }
        return new CudaGraph(captured, executable);
    }

    /// <summary>Queues one replay of the graph on <paramref name="stream"/>.</summary>
    public void Launch(CudaStream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ObjectDisposedException.ThrowIf(executable == 0, this);
        CudaDriver.Check(CudaDriver.cuGraphLaunch(executable, stream.Handle), nameof(CudaDriver.cuGraphLaunch));
    }

    /// <summary>Destroys the executable graph and the graph.</summary>
    public void Dispose()
    {
        if (executable != 0) CudaDriver.cuGraphExecDestroy(executable);
        if (graph != 0) CudaDriver.cuGraphDestroy(graph);
        executable = 0;
        graph = 0;
    }
}
