using SagePtq.Runtime.Cuda.Interop;

namespace SagePtq.Runtime.Cuda;

/// <summary>
/// A kernel of a loaded module. <see cref="Launch"/> takes the kernel's arguments the way
/// <c>cuLaunchKernel</c> does: one pointer per parameter, each to that parameter's value (build them with
/// <see cref="KernelArguments"/>, or pass a single by-value struct with <see cref="Launch{TArgs}"/>).
/// Launching allocates nothing.
/// </summary>
public sealed unsafe class CudaKernel
{
    internal CudaKernel(string name, nint function)
    {
        Name = name;
        Function = function;
    }

    /// <summary>The kernel's exported name.</summary>
    public string Name { get; }

    internal nint Function { get; }

    /// <summary>Queues the kernel on <paramref name="stream"/>.</summary>
    /// <param name="grid">Blocks in the grid.</param>
    /// <param name="block">Threads in a block.</param>
    /// <param name="sharedBytes">Dynamic shared memory per block.</param>
    /// <param name="stream">The stream; it may be capturing into a <see cref="CudaGraph"/>.</param>
    /// <param name="argumentPointers">One pointer per kernel parameter, each to the parameter's value; read during the call.</param>
    public void Launch(Dim3 grid, Dim3 block, uint sharedBytes, CudaStream stream, ReadOnlySpan<nint> argumentPointers)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (grid.X == 0 || grid.Y == 0 || grid.Z == 0 || block.X == 0 || block.Y == 0 || block.Z == 0)
            throw new ArgumentException($"{Name}: a launch needs every grid and block extent ≥ 1 (grid {grid}, block {block})");
        fixed (nint* parameters = argumentPointers)
        {
            var result = CudaDriver.cuLaunchKernel(Function, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
                sharedBytes, stream.Handle, argumentPointers.IsEmpty ? null : parameters, null);
            if (result != CudaResult.Success) throw CudaException.FromDriver($"{nameof(CudaDriver.cuLaunchKernel)}({Name})", result);
        }
    }

    /// <summary>Launches a kernel whose only parameter is <paramref name="args"/>, passed by value (the generated kernels' form).</summary>
    public void Launch<TArgs>(Dim3 grid, Dim3 block, uint sharedBytes, CudaStream stream, in TArgs args) where TArgs : unmanaged
    {
        var copy = args; // cuLaunchKernel copies the value out during the call, so a local suffices
        var pointer = (nint)(&copy);
        Launch(grid, block, sharedBytes, stream, new ReadOnlySpan<nint>(&pointer, 1));
    }

    /// <summary>Launches a kernel whose two parameters are <paramref name="first"/> and <paramref name="second"/>, passed by value.</summary>
    public void Launch<TFirst, TSecond>(Dim3 grid, Dim3 block, uint sharedBytes, CudaStream stream, in TFirst first, in TSecond second)
        where TFirst : unmanaged where TSecond : unmanaged
    {
        var (a, b) = (first, second); // copied out during the call, as above
        var pointers = stackalloc nint[] { (nint)(&a), (nint)(&b) };
        Launch(grid, block, sharedBytes, stream, new ReadOnlySpan<nint>(pointers, 2));
    }
}
