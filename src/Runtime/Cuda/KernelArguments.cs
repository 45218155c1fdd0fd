using System.Runtime.InteropServices;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// The argument block of a kernel launch: parameter values packed into one native buffer, each at an
/// offset aligned to its own alignment, and the array of pointers to them that <c>cuLaunchKernel</c>
/// reads. Reusable: <see cref="Clear"/> and add again; nothing is allocated after construction.
/// </summary>
public sealed unsafe class KernelArguments : IDisposable
{
    private readonly int capacityBytes;
    private readonly int maxArguments;
    private byte* values;
    private nint* pointers;
    private int usedBytes;

    /// <summary>Reserves room for <paramref name="maxArguments"/> parameters totalling at most <paramref name="capacityBytes"/> (alignment padding included).</summary>
    public KernelArguments(int maxArguments = 16, int capacityBytes = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxArguments);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityBytes);
        this.maxArguments = maxArguments;
        this.capacityBytes = capacityBytes;
        values = (byte*)NativeMemory.AlignedAlloc((nuint)capacityBytes, MaxAlignment);
        pointers = (nint*)NativeMemory.Alloc((nuint)maxArguments, (nuint)sizeof(nint));
    }

    /// <summary>The strongest alignment a parameter gets (that of a 16-byte vector such as <c>float4</c>).</summary>
    public const int MaxAlignment = 16;

    /// <summary>Parameters added so far.</summary>
    public int Count { get; private set; }

    /// <summary>The pointers to pass to <see cref="CudaKernel.Launch"/>.</summary>
    public ReadOnlySpan<nint> Pointers
    {
        get
        {
            ObjectDisposedException.ThrowIf(values == null, this);
            return new ReadOnlySpan<nint>(pointers, Count);
        }
    }

    /// <summary>The byte offset of each added parameter in the value buffer (for tests and diagnostics).</summary>
    public int OffsetOf(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        return (int)((byte*)pointers[index] - values);
    }

    /// <summary>Appends a parameter of value <paramref name="value"/> (a device pointer is a <c>ulong</c>).</summary>
    public KernelArguments Add<T>(T value) where T : unmanaged
    {
        ObjectDisposedException.ThrowIf(values == null, this);
        if (Count == maxArguments) throw new InvalidOperationException($"more than {maxArguments} kernel arguments");
        var offset = AlignUp(usedBytes, AlignmentOf(sizeof(T)));
        if (offset + sizeof(T) > capacityBytes)
            throw new InvalidOperationException($"kernel arguments exceed {capacityBytes} bytes");
        *(T*)(values + offset) = value;
        pointers[Count++] = (nint)(values + offset);
        usedBytes = offset + sizeof(T);
        return this;
    }

    /// <summary>Appends a device buffer's address.</summary>
    public KernelArguments Add(DeviceBuffer buffer)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        return Add(buffer.Pointer);
    }

    /// <summary>Forgets every parameter, keeping the memory.</summary>
    public void Clear()
    {
        Count = 0;
        usedBytes = 0;
    }

    /// <summary>
    /// The alignment a parameter of <paramref name="size"/> bytes is placed at: its size rounded up to a power of
    /// two, capped at <see cref="MaxAlignment"/>. Only the pointed-to value's own alignment matters to the driver
    /// (it copies each value into the kernel's parameter space), so this is about aligned reads here.
    /// </summary>
    public static int AlignmentOf(int size)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(size);
        return Math.Min(MaxAlignment, (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)size));
    }

    /// <summary>Frees the native memory.</summary>
    public void Dispose()
    {
        if (values == null) return;
        NativeMemory.AlignedFree(values);
        NativeMemory.Free(pointers);
        values = null;
        pointers = null;
    }

    private static int AlignUp(int offset, int alignment) => (offset + alignment - 1) & -alignment;
}
