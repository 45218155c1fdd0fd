using System.Security.Cryptography;
using System.Text;
using SagePtq.Runtime.Cuda;
using SagePtq.Runtime.Cuda.Compilation;
using SagePtq.Tests;

namespace SagePtq.Runtime.Tests.Cuda;

public sealed class CudaKernelCacheTests
{
    private const string Header = "#pragma once\nnamespace sageptq { constexpr int THREADS = 256; }\n";
    private const string Source = "#include \"sageptq.cuh\"\nextern \"C\" __global__ void k(float* x) { x[threadIdx.x] *= 2.0f; }\n";

    /// <summary>
    /// A compiler that counts its calls and returns bytes derived from the whole request (large enough that a
    /// torn write would show), so a cache returning the wrong entry is caught.
    /// </summary>
    private sealed class CountingCompiler(string version = "fake-1.0", int size = 64 * 1024) : ICudaCompiler
    {
        private int calls;

        public int Calls => Volatile.Read(ref calls);

        public string Version { get; } = version;

        public byte[] Compile(CudaCompileRequest request)
        {
            Interlocked.Increment(ref calls);
            return Image(request, Version, size);
        }

        public static byte[] Image(CudaCompileRequest request, string version, int size = 64 * 1024)
        {
            var seed = SHA256.HashData(Encoding.UTF8.GetBytes(CudaKernelCache.Key(request, version)));
            var image = new byte[size];
            for (var i = 0; i < size; i++) image[i] = (byte)(seed[i % 32] ^ (i * 31));
            return image;
        }
    }

    private sealed class FailingCompiler(Func<CudaCompileRequest, Exception> error) : ICudaCompiler
    {
        public string Version => "fake-1.0";

        public byte[] Compile(CudaCompileRequest request) => throw error(request);
    }

    private static CudaCompileRequest Request(string source = Source, string header = Header, string headerName = "sageptq.cuh",
        int major = 9, int minor = 0, string[]? options = null, string name = "layer00.cu") =>
        new(name, source, new Dictionary<string, string> { [headerName] = header }, major, minor, options ?? []);

    [Fact]
    public void Same_inputs_give_the_same_key_and_header_order_does_not_matter()
    {
        var one = new CudaCompileRequest("a.cu", Source, new Dictionary<string, string> { ["x.cuh"] = "1", ["y.cuh"] = "2" }, 9, 0, ["-DA=1"]);
        var two = new CudaCompileRequest("b.cu", Source, new Dictionary<string, string> { ["y.cuh"] = "2", ["x.cuh"] = "1" }, 9, 0, ["-DA=1"]);
        Assert.Equal(CudaKernelCache.Key(one, "nvrtc-13.0"), CudaKernelCache.Key(two, "nvrtc-13.0"));
        Assert.Equal(CudaKernelCache.Key(Request(), "v"), CudaKernelCache.Key(Request(), "v"));
    }

    [Fact]
    public void Key_names_the_architecture_and_compiler_then_a_sha256()
    {
        var key = CudaKernelCache.Key(Request(major: 8, minor: 6), "nvrtc-13.0");
        Assert.Matches("^sm_86-nvrtc-13.0-[0-9a-f]{64}$", key);
        Assert.Matches("^sm_90-odd_version-[0-9a-f]{64}$", CudaKernelCache.Key(Request(), "odd/version"));
    }

    [Fact]
    public void Key_changes_with_source_headers_options_architecture_and_compiler()
    {
        var baseline = CudaKernelCache.Key(Request(), "nvrtc-13.0");
        string[] variants =
        [
            CudaKernelCache.Key(Request(source: Source + " "), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(header: Header + "// x\n"), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(headerName: "other.cuh"), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(options: ["--use_fast_math"]), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(options: ["-DA", "B"]), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(options: ["-DAB"]), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(options: ["B", "-DA"]), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(major: 8), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(minor: 1), "nvrtc-13.0"),
            CudaKernelCache.Key(Request(), "nvrtc-12.8"),
        ];
        Assert.DoesNotContain(baseline, variants);
        Assert.Equal(variants.Length, variants.Distinct().Count());
        Assert.Equal(baseline, CudaKernelCache.Key(Request(name: "renamed.cu"), "nvrtc-13.0")); // the name is not content
    }

    [Fact]
    public void A_hit_reads_the_entry_without_compiling()
    {
        using var dir = TestAssets.NewTempDir();
        var compiler = new CountingCompiler();
        var cache = new CudaKernelCache(compiler, dir.Path, TextWriter.Null);
        var request = Request();
        var first = cache.GetOrCompile(request);
        Assert.Equal(1, compiler.Calls);
        Assert.True(File.Exists(cache.PathOf(request)));
        Assert.Equal(CountingCompiler.Image(request, compiler.Version), first);

        Assert.Equal(first, cache.GetOrCompile(request));
        var fresh = new CudaKernelCache(compiler, dir.Path, TextWriter.Null); // as a later process would
        Assert.Equal(first, fresh.GetOrCompile(request));
        Assert.Equal(1, compiler.Calls);
        Assert.Equal((1, 1), (cache.Compiles, cache.Hits));
        Assert.Equal((0, 1), (fresh.Compiles, fresh.Hits));

        cache.GetOrCompile(Request(minor: 9)); // another architecture is another entry
        Assert.Equal(2, compiler.Calls);
        Assert.Equal(2, Directory.GetFiles(dir.Path, "*.cubin").Length);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
    }

    [Fact]
    public void Another_compiler_version_misses()
    {
        using var dir = TestAssets.NewTempDir();
        var old = new CountingCompiler("nvrtc-12.8");
        var current = new CountingCompiler("nvrtc-13.0");
        new CudaKernelCache(old, dir.Path, TextWriter.Null).GetOrCompile(Request());
        new CudaKernelCache(current, dir.Path, TextWriter.Null).GetOrCompile(Request());
        Assert.Equal((1, 1), (old.Calls, current.Calls));
    }

    public static TheoryData<string> Corruptions => ["truncated", "short", "empty", "flipped", "length", "magic", "format", "foreign"];

    [Theory]
    [MemberData(nameof(Corruptions))]
    public void A_corrupt_entry_is_recompiled_with_a_message(string corruption)
    {
        using var dir = TestAssets.NewTempDir();
        var compiler = new CountingCompiler();
        var log = new StringWriter();
        var cache = new CudaKernelCache(compiler, dir.Path, log);
        var request = Request();
        var expected = cache.GetOrCompile(request);
        var path = cache.PathOf(request);
        var entry = File.ReadAllBytes(path);
        switch (corruption)
        {
            case "truncated": File.WriteAllBytes(path, entry[..^100]); break;
            case "short": File.WriteAllBytes(path, entry[..40]); break;
            case "empty": File.WriteAllBytes(path, []); break;
            case "flipped": entry[^5] ^= 0x10; File.WriteAllBytes(path, entry); break;
            case "length": entry[12] ^= 1; File.WriteAllBytes(path, entry); break;
            case "magic": entry[0] = (byte)'X'; File.WriteAllBytes(path, entry); break;
            case "format": entry[8] = 99; File.WriteAllBytes(path, entry); break;
            case "foreign": // a whole, valid entry of another request under this request's name
                var other = Request(source: "extern \"C\" __global__ void other() {}");
                cache.GetOrCompile(other);
                File.Copy(cache.PathOf(other), path, overwrite: true);
                break;
        }
        var callsBefore = compiler.Calls;

        Assert.Equal(expected, cache.GetOrCompile(request));
        Assert.Equal(callsBefore + 1, compiler.Calls);
        Assert.Contains("is corrupt", log.ToString());
        Assert.Contains(path, log.ToString());
        Assert.Contains("recompiling layer00.cu", log.ToString());

        var check = new CudaKernelCache(new FailingCompiler(_ => new InvalidOperationException("must be a hit")), dir.Path, TextWriter.Null);
        Assert.Equal(expected, check.GetOrCompile(request)); // the rewritten entry is whole again
    }

    [Fact]
    public void Entry_check_accepts_its_own_entries_and_explains_rejections()
    {
        var payload = new byte[] { 1, 2, 3, 4, 5 };
        var entry = CudaKernelCache.Entry("key-a", payload);
        Assert.Null(CudaKernelCache.Problem(entry, "key-a", out var read));
        Assert.Equal(payload, read);
        Assert.Equal("written for another key", CudaKernelCache.Problem(entry, "key-b", out _));
        Assert.Contains("shorter than the", CudaKernelCache.Problem(entry[..10], "key-a", out _));
        Assert.Contains("the file holds 4", CudaKernelCache.Problem(entry[..^1], "key-a", out _));
    }

    [Fact]
    public void A_compile_error_propagates_and_stores_nothing()
    {
        using var dir = TestAssets.NewTempDir();
        var cache = new CudaKernelCache(new FailingCompiler(r => new CudaCompileException(r.Name, r.Architecture, "error: expected a \";\"")), dir.Path, TextWriter.Null);
        var error = Assert.Throws<CudaCompileException>(() => cache.GetOrCompile(Request()));
        Assert.Equal("layer00.cu", error.SourceName);
        Assert.Contains("expected a", error.Log);
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Concurrent_writers_and_readers_never_see_a_torn_entry()
    {
        // Each round, thread 0 misses and writes an entry while thread 1 keeps reading the same entry until it
        // sees it, then asks for it too (a hit, or a second writer if it got there first). With the temporary
        // file and rename, a reader finds no entry or a whole one; a write in place would show partial files.
        using var dir = TestAssets.NewTempDir();
        const int rounds = 16;
        const int imageBytes = 1 << 20;
        var requests = Enumerable.Range(0, rounds).Select(i => Request(source: $"{Source}// kernel {i}\n")).ToArray();
        var compilers = new[] { new CountingCompiler(size: imageBytes), new CountingCompiler(size: imageBytes) };
        var expected = requests.Select(r => CountingCompiler.Image(r, "fake-1.0", imageBytes)).ToArray();
        using var start = new Barrier(2);
        var written = new int[rounds];
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var threads = compilers.Select((compiler, t) => new Thread(() =>
        {
            var log = new StringWriter();
            var cache = new CudaKernelCache(compiler, dir.Path, log); // one cache per thread, like two processes
            for (var round = 0; round < rounds; round++)
            {
                var request = requests[round];
                start.SignalAndWait();
                if (t == 1)
                {
                    var key = cache.KeyOf(request);
                    var path = cache.PathOf(request);
                    for (var reads = 0; reads < 100_000; reads++)
                    {
                        var done = Volatile.Read(ref written[round]) == 1; // read before the file, so a miss after it is final
                        var seen = cache.TryRead(path, key, request.Name);
                        if (seen is not null && !seen.AsSpan().SequenceEqual(expected[round])) failures.Enqueue($"round {round}: wrong entry read");
                        if (seen is not null || done) break;
                    }
                }
                var image = cache.GetOrCompile(request);
                if (t == 0) Volatile.Write(ref written[round], 1);
                if (!image.AsSpan().SequenceEqual(expected[round])) failures.Enqueue($"thread {t}, round {round}: wrong image");
            }
            if (log.ToString().Length > 0) failures.Enqueue($"thread {t}: {log}");
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();

        Assert.Empty(failures);
        Assert.InRange(compilers.Sum(c => c.Calls), rounds, 2 * rounds);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));
        var check = new CudaKernelCache(new FailingCompiler(_ => new InvalidOperationException("must be a hit")), dir.Path, TextWriter.Null);
        for (var i = 0; i < rounds; i++) Assert.Equal(expected[i], check.GetOrCompile(requests[i]));
    }

    [Fact]
    public void An_unusable_folder_disables_caching_with_a_message_but_still_compiles()
    {
        using var dir = TestAssets.NewTempDir();
        var blocker = dir.File("not-a-folder");
        File.WriteAllText(blocker, "a file where the cache folder should be");
        var compiler = new CountingCompiler();
        var log = new StringWriter();
        var cache = new CudaKernelCache(compiler, Path.Combine(blocker, "cache"), log);
        Assert.Contains("cannot create", log.ToString());
        Assert.Equal(CountingCompiler.Image(Request(), compiler.Version), cache.GetOrCompile(Request()));
        Assert.Equal(CountingCompiler.Image(Request(), compiler.Version), cache.GetOrCompile(Request()));
        Assert.Equal(2, compiler.Calls);
        Assert.Contains("cannot write", log.ToString());
    }

    [Fact]
    public void Default_directory_follows_the_environment_variable()
    {
        var saved = Environment.GetEnvironmentVariable(CudaKernelCache.DirectoryVariable);
        try
        {
            using var dir = TestAssets.NewTempDir();
            Environment.SetEnvironmentVariable(CudaKernelCache.DirectoryVariable, dir.Path);
            Assert.Equal(dir.Path, CudaKernelCache.DefaultDirectory());
            Environment.SetEnvironmentVariable(CudaKernelCache.DirectoryVariable, null);
            var fallback = CudaKernelCache.DefaultDirectory();
            Assert.EndsWith(Path.Combine("sageptq", "cuda-cache"), fallback);
            Assert.True(Path.IsPathRooted(fallback));
        }
        finally
        {
            Environment.SetEnvironmentVariable(CudaKernelCache.DirectoryVariable, saved);
        }
    }

    [Fact]
    public void Requests_reject_bad_input()
    {
        Assert.Throws<ArgumentException>(() => new CudaCompileRequest(" ", Source, null, 9, 0));
        Assert.Throws<ArgumentNullException>(() => new CudaCompileRequest("a.cu", null!, null, 9, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaCompileRequest("a.cu", Source, null, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaCompileRequest("a.cu", Source, null, 9, 10));
        Assert.Throws<ArgumentException>(() => new CudaCompileRequest("a.cu", Source, new Dictionary<string, string> { [""] = "x" }, 9, 0));
        Assert.Throws<ArgumentException>(() => new CudaCompileRequest("a.cu", Source, null, 9, 0, [""]));
        Assert.Throws<ArgumentNullException>(() => new CudaKernelCache(null!, "x"));
    }

    [Fact]
    public void Nvrtc_options_put_the_architecture_and_defaults_first_and_fast_math_only_when_asked()
    {
        var plain = NvrtcCompiler.OptionsFor(Request(major: 9, minor: 0));
        Assert.Equal(["--gpu-arch=sm_90", "-default-device", "-std=c++17"], plain);
        var asked = NvrtcCompiler.OptionsFor(Request(major: 8, minor: 6, options: ["--use_fast_math", "-DROWS=256"]));
        Assert.Equal(["--gpu-arch=sm_86", "-default-device", "-std=c++17", "--use_fast_math", "-DROWS=256"], asked);
    }
}
