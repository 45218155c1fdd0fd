using System.Runtime.InteropServices;
using SagePtq.Runtime.Cuda;

namespace SagePtq.Runtime.Tests.Cuda;

public sealed unsafe class KernelArgumentsTests
{
    [StructLayout(LayoutKind.Sequential)]
    private struct Twelve { public float A, B, C; }

    [StructLayout(LayoutKind.Sequential)]
    private struct Sixteen { public ulong Pointer; public int Rows, Cols; }

    [Fact]
    public void Each_pointer_points_at_its_value_at_an_aligned_offset()
    {
        using var arguments = new KernelArguments();
        var twelve = new Twelve { A = 1.5f, B = -2f, C = 3.25f };
        var sixteen = new Sixteen { Pointer = 0xDEAD_BEEF_0000_1000, Rows = 256, Cols = 704 };
        arguments.Add((byte)7).Add(123456789).Add(0x1234_5678_9ABC_DEF0UL).Add((short)-3).Add(twelve).Add(2.5).Add(sixteen).Add(0.25f);

        var pointers = arguments.Pointers;
        Assert.Equal(8, pointers.Length);
        Assert.Equal((byte)7, *(byte*)pointers[0]);
        Assert.Equal(123456789, *(int*)pointers[1]);
        Assert.Equal(0x1234_5678_9ABC_DEF0UL, *(ulong*)pointers[2]);
        Assert.Equal((short)-3, *(short*)pointers[3]);
        Assert.Equal(twelve, *(Twelve*)pointers[4]);
        Assert.Equal(2.5, *(double*)pointers[5]);
        Assert.Equal(sixteen, *(Sixteen*)pointers[6]);
        Assert.Equal(0.25f, *(float*)pointers[7]);

        // Oracle: a running offset rounded up to each value's alignment (its size's power of two, at most 16).
        int[] sizes = [1, 4, 8, 2, 12, 8, 16, 4];
        int[] alignments = [1, 4, 8, 2, 16, 8, 16, 4];
        var offset = 0;
        for (var i = 0; i < sizes.Length; i++)
        {
            Assert.Equal(alignments[i], KernelArguments.AlignmentOf(sizes[i]));
            while (offset % alignments[i] != 0) offset++;
            Assert.Equal(offset, arguments.OffsetOf(i));
            Assert.Equal(0, (long)pointers[i] % alignments[i]);
            offset += sizes[i];
        }
    }

    [Fact]
    public void Clear_starts_over_in_the_same_memory()
    {
        using var arguments = new KernelArguments();
        arguments.Add(1.0).Add(2);
        var first = arguments.Pointers[0];
        arguments.Clear();
        Assert.Equal(0, arguments.Count);
        arguments.Add(5L);
        Assert.Equal(1, arguments.Count);
        Assert.Equal(first, arguments.Pointers[0]);
        Assert.Equal(5L, *(long*)arguments.Pointers[0]);
    }

    [Fact]
    public void Too_many_arguments_or_bytes_is_an_error()
    {
        using var few = new KernelArguments(maxArguments: 2);
        few.Add(1).Add(2);
        Assert.Throws<InvalidOperationException>(() => few.Add(3));
        using var small = new KernelArguments(capacityBytes: 12);
        small.Add(1).Add(2); // bytes 0..8
        Assert.Throws<InvalidOperationException>(() => small.Add(3UL)); // aligned to 8, it would need bytes 8..16
        Assert.Equal(2, small.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => new KernelArguments(maxArguments: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => few.OffsetOf(2));
    }

    [Fact]
    public void Disposed_arguments_refuse_use()
    {
        var arguments = new KernelArguments();
        arguments.Dispose();
        Assert.Throws<ObjectDisposedException>(() => arguments.Add(1));
        Assert.Throws<ObjectDisposedException>(() => arguments.Pointers.Length);
    }

    [Theory]
    [InlineData(1000, 256, 4u)]
    [InlineData(1024, 256, 4u)]
    [InlineData(1025, 256, 5u)]
    [InlineData(0, 32, 0u)]
    [InlineData(1, 1, 1u)]
    public void Blocks_cover_every_item(long count, uint perBlock, uint expected) =>
        Assert.Equal(expected, Dim3.BlocksFor(count, perBlock));

    [Fact]
    public void Dim3_defaults_to_one_in_y_and_z()
    {
        Dim3 grid = 7u;
        Assert.Equal(new Dim3(7, 1, 1), grid);
        Assert.Throws<ArgumentOutOfRangeException>(() => Dim3.BlocksFor(10, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Dim3.BlocksFor(-1, 32));
    }
}
