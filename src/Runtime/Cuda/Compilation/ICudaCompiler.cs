namespace SagePtq.Runtime.Cuda.Compilation;

/// <summary>
/// Turns a <see cref="CudaCompileRequest"/> into a CUBIN image. <see cref="NvrtcCompiler"/> is the real one;
/// the kernel cache takes any, so it is tested without NVRTC.
/// </summary>
public interface ICudaCompiler
{
    /// <summary>Identifies the compiler and its version (<c>nvrtc-13.0</c>); part of the cache key.</summary>
    string Version { get; }

    /// <summary>Compiles the request; a source error throws <see cref="CudaCompileException"/>.</summary>
    byte[] Compile(CudaCompileRequest request);
}
