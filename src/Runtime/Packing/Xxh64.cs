using System.Buffers.Binary;
using System.Numerics;

namespace SagePtq.Runtime.Packing;

/// <summary>
/// The XXH64 hash (Yann Collet's xxHash, 64-bit variant), written here because System.IO.Hashing is
/// not available. Streaming: <see cref="Append"/> any number of spans, then <see cref="GetCurrentHash"/>;
/// the result equals hashing the concatenation in one call. The pack uses it with seed 0 as a fast
/// corruption check (it is not a cryptographic hash; the manifest link uses SHA-256).
/// </summary>
public sealed class Xxh64
{
    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime3 = 0x165667B19E3779F9UL;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime5 = 0x27D4EB2F165667C5UL;
    private const int StripeBytes = 32;

    private readonly ulong _seed;
    private ulong _v1, _v2, _v3, _v4;
    private readonly byte[] _pending = new byte[StripeBytes];
    private int _pendingCount;
    private ulong _totalLength;

    public Xxh64(ulong seed = 0)
    {
        _seed = seed;
        _v1 = seed + Prime1 + Prime2;
        _v2 = seed + Prime2;
        _v3 = seed;
        _v4 = seed - Prime1;
    }

    /// <summary>The XXH64 of <paramref name="data"/> in one call.</summary>
    public static ulong Hash(ReadOnlySpan<byte> data, ulong seed = 0)
    {
        var hasher = new Xxh64(seed);
        hasher.Append(data);
        return hasher.GetCurrentHash();
    }

    /// <summary>Feeds more bytes.</summary>
    public void Append(ReadOnlySpan<byte> data)
    {
        _totalLength += (ulong)data.Length;
        if (_pendingCount > 0)
        {
            int take = Math.Min(StripeBytes - _pendingCount, data.Length);
            data[..take].CopyTo(_pending.AsSpan(_pendingCount));
            _pendingCount += take;
            data = data[take..];
            if (_pendingCount < StripeBytes) return;
            ConsumeStripe(_pending);
            _pendingCount = 0;
        }
        while (data.Length >= StripeBytes)
        {
            ConsumeStripe(data);
            data = data[StripeBytes..];
        }
        data.CopyTo(_pending);
        _pendingCount = data.Length;
    }

    /// <summary>The hash of everything appended so far (appending may continue afterwards).</summary>
    public ulong GetCurrentHash()
    {
        ulong hash = _totalLength >= StripeBytes
            ? MergeRound(MergeRound(MergeRound(MergeRound(
                BitOperations.RotateLeft(_v1, 1) + BitOperations.RotateLeft(_v2, 7) + BitOperations.RotateLeft(_v3, 12) + BitOperations.RotateLeft(_v4, 18),
                _v1), _v2), _v3), _v4)
            : _seed + Prime5;
        hash += _totalLength;

        ReadOnlySpan<byte> tail = _pending.AsSpan(0, _pendingCount);
        while (tail.Length >= 8)
        {
            hash ^= Round(0, BinaryPrimitives.ReadUInt64LittleEndian(tail));
            hash = BitOperations.RotateLeft(hash, 27) * Prime1 + Prime4;
            tail = tail[8..];
        }
        if (tail.Length >= 4)
        {
            hash ^= BinaryPrimitives.ReadUInt32LittleEndian(tail) * Prime1;
            hash = BitOperations.RotateLeft(hash, 23) * Prime2 + Prime3;
            tail = tail[4..];
        }
        foreach (byte b in tail)
        {
            hash ^= b * Prime5;
            hash = BitOperations.RotateLeft(hash, 11) * Prime1;
        }

        // Avalanche: spread every input bit over the whole result.
        hash ^= hash >> 33;
        hash *= Prime2;
        hash ^= hash >> 29;
        hash *= Prime3;
        hash ^= hash >> 32;
        return hash;
    }

    private void ConsumeStripe(ReadOnlySpan<byte> stripe)
    {
        _v1 = Round(_v1, BinaryPrimitives.ReadUInt64LittleEndian(stripe));
        _v2 = Round(_v2, BinaryPrimitives.ReadUInt64LittleEndian(stripe[8..]));
        _v3 = Round(_v3, BinaryPrimitives.ReadUInt64LittleEndian(stripe[16..]));
        _v4 = Round(_v4, BinaryPrimitives.ReadUInt64LittleEndian(stripe[24..]));
    }

    private static ulong Round(ulong accumulator, ulong lane)
    {
        accumulator += lane * Prime2;
        accumulator = BitOperations.RotateLeft(accumulator, 31);
        return accumulator * Prime1;
    }

    private static ulong MergeRound(ulong hash, ulong accumulator)
    {
        hash ^= Round(0, accumulator);
        return hash * Prime1 + Prime4;
    }
}
