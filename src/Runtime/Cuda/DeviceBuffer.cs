using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// A block of device memory (<c>cuMemAlloc</c>) with bounds-checked copies to and from host spans.
/// Copies run on the calling thread's current context (see <see cref="CudaDevice.MakeCurrent"/>).
/// </summary>
public sealed unsafe class DeviceBuffer : IDisposable
{
    private DeviceBuffer(ulong pointer, long length)
    {
        Pointer = pointer;
        Length = length;
    }

    /// <summary>The device address (<c>CUdeviceptr</c>), as kernels receive it.</summary>
    public ulong Pointer { get; private set; }

    /// <summary>The size in bytes.</summary>
    public long Length { get; }

    internal static DeviceBuffer Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        ulong pointer;
        CudaDriver.Check(CudaDriver.cuMemAlloc_v2(&pointer, (nuint)bytes), nameof(CudaDriver.cuMemAlloc_v2));
        return new DeviceBuffer(pointer, bytes);
    }

    /// <summary>Copies <paramref name="source"/> to the start of the buffer (synchronous).</summary>
    public void CopyFrom<T>(ReadOnlySpan<T> source, long byteOffset = 0) where T : unmanaged
    {
        var bytes = CheckRange(byteOffset, (long)source.Length * sizeof(T));
        if (bytes == 0) return;
        fixed (T* host = source)
            CudaDriver.Check(CudaDriver.cuMemcpyHtoD_v2(Pointer + (ulong)byteOffset, host, (nuint)bytes), nameof(CudaDriver.cuMemcpyHtoD_v2));
    }

    /// <summary>
    /// Queues a copy of <paramref name="source"/> on <paramref name="stream"/>. From pageable memory the driver
    /// stages the data before returning, so the span may be reused once this returns.
    /// </summary>
    public void CopyFromAsync<T>(ReadOnlySpan<T> source, CudaStream stream, long byteOffset = 0) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(stream);
        var bytes = CheckRange(byteOffset, (long)source.Length * sizeof(T));
        if (bytes == 0) return;
        fixed (T* host = source)
            CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync_v2(Pointer + (ulong)byteOffset, host, (nuint)bytes, stream.Handle),
                nameof(CudaDriver.cuMemcpyHtoDAsync_v2));
    }

    /// <summary>Copies from the buffer into <paramref name="destination"/> (synchronous: waits for prior work).</summary>
    public void CopyTo<T>(Span<T> destination, long byteOffset = 0) where T : unmanaged
    {
        var bytes = CheckRange(byteOffset, (long)destination.Length * sizeof(T));
        if (bytes == 0) return;
        fixed (T* host = destination)
            CudaDriver.Check(CudaDriver.cuMemcpyDtoH_v2(host, Pointer + (ulong)byteOffset, (nuint)bytes), nameof(CudaDriver.cuMemcpyDtoH_v2));
    }

    /// <summary>Sets every byte to <paramref name="value"/> and waits for it (a memset may otherwise finish after it returns).</summary>
    public void Fill(byte value = 0)
    {
        ObjectDisposedException.ThrowIf(Pointer == 0, this);
        CudaDriver.Check(CudaDriver.cuMemsetD8_v2(Pointer, value, (nuint)Length), nameof(CudaDriver.cuMemsetD8_v2));
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), nameof(CudaDriver.cuCtxSynchronize));
    }

    /// <summary>Frees the memory.</summary>
    public void Dispose()
    {
        if (Pointer == 0) return;
        CudaDriver.cuMemFree_v2(Pointer);
        Pointer = 0;
    }

    private long CheckRange(long byteOffset, long bytes)
    {
        ObjectDisposedException.ThrowIf(Pointer == 0, this);
        if (byteOffset < 0 || byteOffset > Length || bytes > Length - byteOffset)
            throw new ArgumentException($"{bytes} bytes at offset {byteOffset} do not fit a device buffer of {Length} bytes");
        return bytes;
    }
}
