using System.Runtime.InteropServices;
using System.Text;
using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// A CUDA driver or NVRTC call failed. Carries the function that failed, the library's name for the
/// error (<c>CUDA_ERROR_OUT_OF_MEMORY</c>) and its description; the message reads
/// "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (out of memory)".
/// </summary>
public sealed class CudaException : Exception
{
    /// <summary>Creates the exception from its parts.</summary>
    /// <param name="function">The native function that failed (e.g. <c>cuMemAlloc_v2</c>).</param>
    /// <param name="code">The numeric result code.</param>
    /// <param name="errorName">The library's name for the code.</param>
    /// <param name="errorDescription">The library's description of the code.</param>
    public CudaException(string function, int code, string errorName, string errorDescription)
        : base($"{function} failed: {errorName} ({errorDescription})")
    {
        Function = function;
        Code = code;
        ErrorName = errorName;
        ErrorDescription = errorDescription;
    }

    /// <summary>The native function that failed.</summary>
    public string Function { get; }

    /// <summary>The numeric <c>CUresult</c> or <c>nvrtcResult</c>.</summary>
    public int Code { get; }

    /// <summary>The library's name for <see cref="Code"/> (<c>CUDA_ERROR_…</c>, <c>NVRTC_ERROR_…</c>).</summary>
    public string ErrorName { get; }

    /// <summary>The library's description of <see cref="Code"/>.</summary>
    public string ErrorDescription { get; }

    /// <summary>The driver call's result as <see cref="CudaResult"/> (meaningful for driver errors).</summary>
    public CudaResult Result => (CudaResult)Code;

    /// <summary>Builds the exception for a failed driver call, asking the driver for the code's name and description.</summary>
    internal static unsafe CudaException FromDriver(string function, CudaResult result)
    {
        string? name = null, description = null;
        try
        {
            byte* text;
            if (CudaDriver.cuGetErrorName(result, &text) == CudaResult.Success && text != null)
                name = Marshal.PtrToStringUTF8((nint)text);
            if (CudaDriver.cuGetErrorString(result, &text) == CudaResult.Success && text != null)
                description = Marshal.PtrToStringUTF8((nint)text);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            // No driver to ask (a result reported by the availability probe): fall back to our own names.
        }
        return new CudaException(function, (int)result, name ?? FallbackName(result), description ?? "no description from the driver");
    }

    /// <summary>Builds the exception for a failed NVRTC call (NVRTC's error string is the code's name).</summary>
    internal static unsafe CudaException FromNvrtc(string function, NvrtcResult result)
    {
        string? name = null;
        try
        {
            var text = Nvrtc.nvrtcGetErrorString(result);
            if (text != null) name = Marshal.PtrToStringUTF8((nint)text);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
        }
        name ??= FallbackName(result);
        return new CudaException(function, (int)result, name, Describe(result));
    }

    /// <summary>
    /// The C name of a driver code from this binding's enum (<c>OutOfMemory</c> → <c>CUDA_ERROR_OUT_OF_MEMORY</c>),
    /// or <c>CUDA_ERROR_{code}</c> for one it does not list.
    /// </summary>
    internal static string FallbackName(CudaResult result) =>
        result == CudaResult.Success ? "CUDA_SUCCESS"
        : Enum.IsDefined(result) ? "CUDA_ERROR_" + UpperSnake(result.ToString())
        : $"CUDA_ERROR_{(int)result}";

    /// <summary>The C name of an NVRTC code (<c>Compilation</c> → <c>NVRTC_ERROR_COMPILATION</c>).</summary>
    internal static string FallbackName(NvrtcResult result) =>
        result == NvrtcResult.Success ? "NVRTC_SUCCESS"
        : Enum.IsDefined(result) ? "NVRTC_ERROR_" + UpperSnake(result.ToString())
        : $"NVRTC_ERROR_{(int)result}";

    private static string Describe(NvrtcResult result) => result switch
    {
        NvrtcResult.Compilation => "the source did not compile; see the program log",
        NvrtcResult.InvalidOption => "a compiler option was not accepted",
        NvrtcResult.OutOfMemory => "out of memory",
        _ => "NVRTC reported an error",
    };

    private static string UpperSnake(string pascal)
    {
        var text = new StringBuilder(pascal.Length + 8);
        for (var i = 0; i < pascal.Length; i++)
        {
            if (i > 0 && char.IsUpper(pascal[i])) text.Append('_');
            text.Append(char.ToUpperInvariant(pascal[i]));
        }
        return text.ToString();
    }
}
