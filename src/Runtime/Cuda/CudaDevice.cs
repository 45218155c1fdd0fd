using System.Runtime.InteropServices;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// One CUDA device and its primary context, with the properties the backend plans around. Open it with
/// <see cref="TryOpen"/>, which never throws for a missing driver or device. The context is made current
/// on the opening thread; a thread that later calls the driver through the returned objects calls
/// <see cref="MakeCurrent"/> first (the object-creating methods here do so themselves). Dispose the
/// buffers, streams, events, modules and graphs before the device: they hold no finalizers, because a
/// finalizer thread has no current context to free them in.
/// </summary>
public sealed unsafe class CudaDevice : IDisposable
{
    private readonly nint context;
    private bool disposed;

    private CudaDevice(int ordinal, int handle, nint context)
    {
        Ordinal = ordinal;
        Handle = handle;
        this.context = context;
        Name = ReadName(handle);
        ComputeMajor = Attribute(CudaDeviceAttribute.ComputeCapabilityMajor);
        ComputeMinor = Attribute(CudaDeviceAttribute.ComputeCapabilityMinor);
        MultiprocessorCount = Attribute(CudaDeviceAttribute.MultiprocessorCount);
        MemoryClockKilohertz = Attribute(CudaDeviceAttribute.MemoryClockRate);
        MemoryBusWidthBits = Attribute(CudaDeviceAttribute.GlobalMemoryBusWidth);
        L2CacheBytes = Attribute(CudaDeviceAttribute.L2CacheSize);
        MaxSharedMemoryPerBlock = Attribute(CudaDeviceAttribute.MaxSharedMemoryPerBlock);
        nuint total;
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem_v2(&total, handle), nameof(CudaDriver.cuDeviceTotalMem_v2));
        TotalMemoryBytes = (long)total;
    }

    /// <summary>The device's ordinal (0 = first).</summary>
    public int Ordinal { get; }

    /// <summary>The driver's <c>CUdevice</c>.</summary>
    internal int Handle { get; }

    /// <summary>The product name ("NVIDIA H100 80GB HBM3").</summary>
    public string Name { get; }

    /// <summary>Compute capability, major part (9 for Hopper).</summary>
    public int ComputeMajor { get; }

    /// <summary>Compute capability, minor part.</summary>
    public int ComputeMinor { get; }

    /// <summary>The NVRTC architecture name for this device (<c>sm_90</c>).</summary>
    public string Architecture => $"sm_{ComputeMajor}{ComputeMinor}";

    /// <summary>Streaming multiprocessors.</summary>
    public int MultiprocessorCount { get; }

    /// <summary>Global memory in bytes.</summary>
    public long TotalMemoryBytes { get; }

    /// <summary>Peak memory clock in kHz (0 when the driver does not report it).</summary>
    public int MemoryClockKilohertz { get; }

    /// <summary>Global memory bus width in bits.</summary>
    public int MemoryBusWidthBits { get; }

    /// <summary>L2 cache in bytes.</summary>
    public int L2CacheBytes { get; }

    /// <summary>Static shared memory a block may use, in bytes.</summary>
    public int MaxSharedMemoryPerBlock { get; }

    /// <summary>
    /// The theoretical memory bandwidth in bytes per second from the clock and bus width (double data rate),
    /// the roof that weight-streaming decode is measured against; 0 when the clock is not reported.
    /// </summary>
    public double PeakBandwidthBytesPerSecond => 2.0 * MemoryClockKilohertz * 1000.0 * MemoryBusWidthBits / 8.0;

    /// <summary>
    /// Opens device <paramref name="ordinal"/>'s primary context and makes it current on this thread.
    /// Returns false with a reason (no driver, no device, driver too old, no NVRTC, no such ordinal, or the
    /// driver's error) instead of throwing.
    /// </summary>
    public static bool TryOpen(out CudaDevice? device, out string reason, int ordinal = 0)
    {
        device = null;
        var probe = CudaAvailability.Probe;
        if (!probe.IsAvailable)
        {
            reason = probe.Reason;
            return false;
        }
        if (ordinal < 0 || ordinal >= probe.DeviceCount)
        {
            reason = $"no CUDA device {ordinal}: the driver reports {probe.DeviceCount}";
            return false;
        }
        try
        {
            int handle;
            nint context;
            CudaDriver.Check(CudaDriver.cuDeviceGet(&handle, ordinal), nameof(CudaDriver.cuDeviceGet));
            CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(&context, handle), nameof(CudaDriver.cuDevicePrimaryCtxRetain));
            try
            {
                CudaDriver.Check(CudaDriver.cuCtxSetCurrent(context), nameof(CudaDriver.cuCtxSetCurrent));
                device = new CudaDevice(ordinal, handle, context);
            }
            catch
            {
                CudaDriver.cuDevicePrimaryCtxRelease_v2(handle);
                throw;
            }
            reason = $"{device.Name} ({device.Architecture}, {device.MultiprocessorCount} SMs, {device.TotalMemoryBytes >> 20} MiB); {probe.Reason}";
            return true;
        }
        catch (CudaException e)
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>Makes this device's context current on the calling thread.</summary>
    public void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(context), nameof(CudaDriver.cuCtxSetCurrent));
    }

    /// <summary>Waits for all work on the device's context to finish.</summary>
    public void Synchronize()
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), nameof(CudaDriver.cuCtxSynchronize));
    }

    /// <summary>Allocates <paramref name="bytes"/> of device memory (uninitialized).</summary>
    public DeviceBuffer Allocate(long bytes)
    {
        MakeCurrent();
        return DeviceBuffer.Allocate(bytes);
    }

    /// <summary>Allocates room for <paramref name="values"/> and copies them to the device.</summary>
    public DeviceBuffer Upload<T>(ReadOnlySpan<T> values) where T : unmanaged
    {
        var buffer = Allocate(Math.Max(1L, (long)values.Length * sizeof(T)));
        try
        {
            buffer.CopyFrom(values);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Creates a stream that is ordered with the legacy default stream, so the synchronous copies of
    /// <see cref="DeviceBuffer"/> happen before the stream's later work and wait for its earlier work.
    /// </summary>
    public CudaStream CreateStream()
    {
        MakeCurrent();
        return CudaStream.Create();
    }

    /// <summary>Creates an event; <paramref name="timing"/> false makes it cheaper when only used for ordering.</summary>
    public CudaEvent CreateEvent(bool timing = true)
    {
        MakeCurrent();
        return CudaEvent.Create(timing);
    }

    /// <summary>Loads a CUBIN image (as <see cref="Compilation.NvrtcCompiler"/> or the kernel cache returns it).</summary>
    public CudaModule LoadCubin(ReadOnlySpan<byte> cubin)
    {
        MakeCurrent();
        return CudaModule.LoadCubin(cubin);
    }

    /// <summary>Loads PTX text, which the driver compiles for this device.</summary>
    public CudaModule LoadPtx(string ptx)
    {
        MakeCurrent();
        return CudaModule.LoadPtx(ptx);
    }

    /// <summary>Releases the primary context (once every object created from it is disposed).</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        CudaDriver.cuDevicePrimaryCtxRelease_v2(Handle);
    }

    private int Attribute(CudaDeviceAttribute attribute)
    {
        int value;
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&value, attribute, Handle), nameof(CudaDriver.cuDeviceGetAttribute));
        return value;
    }

    private static string ReadName(int handle)
    {
        const int capacity = 256;
        var name = stackalloc byte[capacity];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, capacity, handle), nameof(CudaDriver.cuDeviceGetName));
        return Marshal.PtrToStringUTF8((nint)name) ?? "";
    }
}
