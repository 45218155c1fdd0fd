using System.Text;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>A loaded module (CUBIN or PTX) and the kernels it exports.</summary>
public sealed unsafe class CudaModule : IDisposable
{
    private CudaModule(nint handle) => Handle = handle;

    internal nint Handle { get; private set; }

    internal static CudaModule LoadCubin(ReadOnlySpan<byte> cubin)
    {
        if (cubin.IsEmpty) throw new ArgumentException("a CUBIN image is empty", nameof(cubin));
        nint handle;
        fixed (byte* image = cubin)
            CudaDriver.Check(CudaDriver.cuModuleLoadData(&handle, image), nameof(CudaDriver.cuModuleLoadData));
        return new CudaModule(handle);
    }

    internal static CudaModule LoadPtx(string ptx)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ptx);
        var text = Utf8Z(ptx); // the driver reads PTX as a NUL-terminated string
        nint handle;
        fixed (byte* image = text)
            CudaDriver.Check(CudaDriver.cuModuleLoadData(&handle, image), nameof(CudaDriver.cuModuleLoadData));
        return new CudaModule(handle);
    }

    /// <summary>Looks up an <c>extern "C"</c> kernel by name; a missing one throws <see cref="CudaException"/> (CUDA_ERROR_NOT_FOUND) naming it.</summary>
    public CudaKernel GetKernel(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ObjectDisposedException.ThrowIf(Handle == 0, this);
        nint function;
        CudaResult result;
        fixed (byte* utf8 = Utf8Z(name))
            result = CudaDriver.cuModuleGetFunction(&function, Handle, utf8);
        CudaDriver.Check(result, $"{nameof(CudaDriver.cuModuleGetFunction)}(\"{name}\")");
        return new CudaKernel(name, function);
    }

    /// <summary>Unloads the module; its kernels must not be launched afterwards.</summary>
    public void Dispose()
    {
        if (Handle == 0) return;
        CudaDriver.cuModuleUnload(Handle);
        Handle = 0;
    }

    internal static byte[] Utf8Z(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }
}
