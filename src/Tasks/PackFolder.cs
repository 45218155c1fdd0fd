namespace SagePtq.Tasks;

/// <summary>
/// A model's output folder: the pack, the manifest and a <c>.complete</c> stamp holding the input
/// hash they were made from. Files arrive by atomic rename from a temporary subfolder, pack first
/// and manifest last, and the stamp after both, so a reader that sees a matching stamp sees a whole pack.
/// </summary>
internal static class PackFolder
{
    /// <summary>True when the folder holds a pack and manifest made from <paramref name="inputHash"/>.</summary>
    public static bool IsCurrent(string folder, string inputHash)
    {
        string stamp = Path.Combine(folder, OutputFiles.CompleteStamp);
        return File.Exists(stamp)
            && string.Equals(File.ReadAllText(stamp).Trim(), inputHash, StringComparison.Ordinal)
            && File.Exists(Path.Combine(folder, OutputFiles.Pack))
            && File.Exists(Path.Combine(folder, OutputFiles.Manifest));
    }

    /// <summary>A new, empty temporary folder inside <paramref name="folder"/> (same volume, so renames are atomic).</summary>
    public static string NewTempFolder(string folder)
    {
        string temp = Path.Combine(folder, OutputFiles.TempPrefix + Guid.NewGuid().ToString("N").Substring(0, 12));
        Directory.CreateDirectory(temp);
        return temp;
    }

    /// <summary>Moves the pack and then the manifest from <paramref name="tempFolder"/> into place, then writes the stamp.</summary>
    /// <exception cref="FileNotFoundException">The quantizer did not write one of the two files.</exception>
    public static void Publish(string folder, string tempFolder, string inputHash)
    {
        // A stale stamp must not vouch for the new files while they are being replaced.
        string stamp = Path.Combine(folder, OutputFiles.CompleteStamp);
        if (File.Exists(stamp)) File.Delete(stamp);
        foreach (string name in new[] { OutputFiles.Pack, OutputFiles.Manifest })
        {
            string source = Path.Combine(tempFolder, name);
            if (!File.Exists(source)) throw new FileNotFoundException($"the quantizer reported success but wrote no {name} in {tempFolder}", source);
            ReplaceAtomically(source, Path.Combine(folder, name));
        }
        string stampTemp = Path.Combine(tempFolder, OutputFiles.CompleteStamp);
        File.WriteAllText(stampTemp, inputHash + "\n");
        ReplaceAtomically(stampTemp, stamp);
    }

    /// <summary>Deletes a temporary folder and any left behind by a build that was killed.</summary>
    public static void DeleteTempFolders(string folder)
    {
        if (!Directory.Exists(folder)) return;
        foreach (string temp in Directory.GetDirectories(folder, OutputFiles.TempPrefix + "*"))
        {
            try { Directory.Delete(temp, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    private static void ReplaceAtomically(string source, string destination)
    {
        // netstandard2.0 has no File.Move(overwrite): File.Replace is the atomic rename over an existing file.
        if (File.Exists(destination)) File.Replace(source, destination, destinationBackupFileName: null);
        else File.Move(source, destination);
    }
}
