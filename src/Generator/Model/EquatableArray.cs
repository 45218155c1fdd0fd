using System;
using System.Collections;
using System.Collections.Generic;

namespace SagePtq.Generator.Model;

/// <summary>
/// An immutable array compared by its elements. Arrays and <c>ImmutableArray</c> compare by
/// reference, which would make every pipeline step look modified on each run and defeat the
/// generator's caching; the models use this type for every collection instead.
/// </summary>
internal readonly struct EquatableArray<T> : IEquatable<EquatableArray<T>>, IReadOnlyList<T>
    where T : IEquatable<T>
{
    private readonly T[]? _items;

    /// <summary>Wraps <paramref name="items"/>, which the caller must not change afterwards.</summary>
    public EquatableArray(T[] items) => _items = items;

    /// <summary>An array with no elements.</summary>
    public static EquatableArray<T> Empty => new(Array.Empty<T>());

    /// <summary>The number of elements.</summary>
    public int Count => _items?.Length ?? 0;

    /// <summary>The element at <paramref name="index"/>.</summary>
    public T this[int index] => (_items ?? Array.Empty<T>())[index];

    /// <inheritdoc />
    public bool Equals(EquatableArray<T> other)
    {
        var left = _items ?? Array.Empty<T>();
        var right = other._items ?? Array.Empty<T>();
        if (left.Length != right.Length) return false;
        for (var i = 0; i < left.Length; i++)
        {
            if (!EqualityComparer<T>.Default.Equals(left[i], right[i])) return false;
        }
        return true;
    }

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is EquatableArray<T> other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        // FNV-style combination: deterministic, and netstandard2.0 has no HashCode type.
        unchecked
        {
            var hash = (int)2166136261;
            foreach (var item in _items ?? Array.Empty<T>())
                hash = (hash ^ (item is null ? 0 : EqualityComparer<T>.Default.GetHashCode(item))) * 16777619;
            return hash;
        }
    }

    /// <inheritdoc />
    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)(_items ?? Array.Empty<T>())).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Element-wise equality.</summary>
    public static bool operator ==(EquatableArray<T> left, EquatableArray<T> right) => left.Equals(right);

    /// <summary>Element-wise inequality.</summary>
    public static bool operator !=(EquatableArray<T> left, EquatableArray<T> right) => !left.Equals(right);
}

/// <summary>Creates <see cref="EquatableArray{T}"/> values.</summary>
internal static class EquatableArray
{
    /// <summary>Copies <paramref name="items"/> into a new equatable array.</summary>
    public static EquatableArray<T> From<T>(IEnumerable<T> items) where T : IEquatable<T> =>
        new(new List<T>(items).ToArray());
}
