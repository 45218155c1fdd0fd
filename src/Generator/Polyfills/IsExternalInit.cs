namespace System.Runtime.CompilerServices;

/// <summary>
/// Lets records and <c>init</c> accessors compile for netstandard2.0, which lacks this marker type.
/// Internal, so it never clashes with the framework's own in a consuming compilation.
/// </summary>
internal static class IsExternalInit
{
}
