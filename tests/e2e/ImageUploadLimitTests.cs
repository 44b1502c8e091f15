using System.Security.Cryptography;
using System.Text;
using Microsoft.Playwright;

namespace Paddock.E2e;

/// <summary>Uploads against a small image storage: reserved before they stream, measured before they expand, converted in the sandbox.</summary>
[Collection(PaddockCollection.Name)]
public sealed class ImageUploadLimitTests(PaddockFixture paddock)
{
    private const int StorageMiB = 3;

    private string Incoming => Path.Combine(paddock.LibraryDir, ".incoming");

    [Fact]
    public async Task Image_uploads_in_parallel_over_the_storage_admit_exactly_what_fits_and_a_bomb_or_split_vmdk_is_refused_before_it_expands()
    {
        var admin = await paddock.SignInAsync(PaddockFixture.AdminUser);
        var page = await paddock.SignInAsync(PaddockFixture.Zoe);
        var work = Directory.CreateTempSubdirectory("paddock-limits-").FullName;
        await AdminPages.SetImageStorageAsync(admin, page, StorageMiB);
        try
        {
            // Eight distinct 1 MiB ISOs at once against 3 MiB: exactly three are kept, nothing of the others stays.
            var before = LibraryFiles().ToHashSet();
            var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => UploadAsync(page, Iso(), "iso", "raw", $"par-{i}")));
            var kept = responses.Where(r => r.Status == 201).ToList();
            Assert.Equal(3, kept.Count);
            foreach (var refused in responses.Where(r => r.Status != 201))
            {
                Assert.Equal(413, refused.Status);
                Assert.Contains("Image storage: this upload needs 1 MiB", await refused.TextAsync());
            }

            Assert.Equal(3, LibraryFiles().Except(before).Count());
            await Eventually.Async(
                () => Task.FromResult(!Directory.EnumerateFileSystemEntries(Incoming).Any()),
                TimeSpan.FromSeconds(10), "staging to be empty");
            foreach (var image in kept)
            {
                Assert.Equal(204,
                    (await page.APIRequest.DeleteAsync($"/api/images/{(await image.JsonAsync())!.Value.GetProperty("id").GetGuid()}",
                        new() { Headers = PaddockFixture.ApiHeaders })).Status);
            }

            // 64 MiB of ones in a compressed qcow2 of a few hundred KiB: measured, refused, never converted.
            var ones = Path.Combine(work, "ones.raw");
            await File.WriteAllBytesAsync(ones, Enumerable.Repeat((byte)1, 64 << 20).ToArray());
            var bomb = Path.Combine(work, "bomb.qcow2");
            await PaddockFixture.RunAsync("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", ones, bomb);
            Assert.True(new FileInfo(bomb).Length < 1 << 20, $"the bomb is {new FileInfo(bomb).Length} bytes");
            var watch = new FileWatch(Incoming);
            var refusedBomb = await UploadAsync(page, await File.ReadAllBytesAsync(bomb), "disk", "qcow2", "bomb");
            Assert.Equal(413, refusedBomb.Status);
            var title = (await refusedBomb.JsonAsync())!.Value.GetProperty("title").GetString()!;
            Assert.StartsWith("Image storage: converted, the image (qemu-img measure) needs 64.", title);
            Assert.Contains($"of {StorageMiB} MiB", title);
            Assert.True(watch.Largest < 2 << 20, $"something of {watch.Largest} bytes was written while the bomb was checked");
            watch.Dispose();
            Assert.Empty(LibraryFiles().Except(before));

            // A split VMDK (its data in extents beside the descriptor) is refused with the reason.
            var split = Path.Combine(work, "split.vmdk");
            await PaddockFixture.RunAsync("qemu-img", "create", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", split, "3G");
            var refusedSplit = await UploadAsync(page, await File.ReadAllBytesAsync(split), "disk", "vmdk", "split");
            Assert.Equal(422, refusedSplit.Status);
            Assert.Contains("This VMDK is split into 2 extents (createType twoGbMaxExtentSparse", await refusedSplit.TextAsync());

            // An honest disk goes through, converted by the sandbox's uid: as root the portal would refuse its own output.
            var vdi = Path.Combine(work, "honest.vdi");
            await PaddockFixture.RunAsync("qemu-img", "create", "-f", "vdi", vdi, "8M");
            var honest = await UploadAsync(page, await File.ReadAllBytesAsync(vdi), "disk", "vdi", "honest");
            Assert.Equal(201, honest.Status);
            var id = (await honest.JsonAsync())!.Value.GetProperty("id").GetGuid();
            Assert.Contains($"Upload {id}: qemu-img converted it as uid {PaddockFixture.UploadUid}", paddock.LogOf("portal"));
            Assert.Equal(204, (await page.APIRequest.DeleteAsync($"/api/images/{id}", new() { Headers = PaddockFixture.ApiHeaders })).Status);
            Assert.Empty(LibraryFiles().Except(before));
        }
        finally
        {
            await AdminPages.SetImageStorageAsync(admin, page, 20480);
            Directory.Delete(work, recursive: true);
            await page.Context.CloseAsync();
            await admin.Context.CloseAsync();
        }
    }

    /// <summary>A 1 MiB ISO 9660 of its own: CD001 at sector 16, random elsewhere.</summary>
    private static byte[] Iso()
    {
        var iso = RandomNumberGenerator.GetBytes(1 << 20);
        Encoding.ASCII.GetBytes("CD001").CopyTo(iso, (16 * 2048) + 1);
        return iso;
    }

    private IEnumerable<string> LibraryFiles() =>
        Directory.Exists(paddock.LibraryDir) ? Directory.EnumerateFiles(paddock.LibraryDir, "*", SearchOption.AllDirectories) : [];

    private static Task<IAPIResponse> UploadAsync(IPage page, byte[] body, string kind, string format, string name) =>
        page.APIRequest.PostAsync($"/api/images?name={name}&kind={kind}&format={format}", new()
        {
            Headers = new Dictionary<string, string>(PaddockFixture.ApiHeaders) { ["Content-Type"] = "application/octet-stream" },
            DataByte = body,
            Timeout = 120_000,
        });

    /// <summary>The largest file seen in the staging area while it watches (changes are reported by inotify, sizes read at once).</summary>
    private sealed class FileWatch : IDisposable
    {
        private readonly FileSystemWatcher _watcher;
        private long _largest;

        public FileWatch(string directory)
        {
            Directory.CreateDirectory(directory);
            _watcher = new FileSystemWatcher(directory) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.Size | NotifyFilters.FileName,
                EnableRaisingEvents = true };
            _watcher.Changed += (_, e) => Seen(e.FullPath);
            _watcher.Created += (_, e) => Seen(e.FullPath);
        }

        public long Largest => Interlocked.Read(ref _largest);

        private void Seen(string path)
        {
            try
            {
                var size = new FileInfo(path).Length;
                long current;
                while (size > (current = Interlocked.Read(ref _largest)) && Interlocked.CompareExchange(ref _largest, size, current) != current)
                {
                }
            }
            catch (IOException)
            {
                // Gone already.
            }
        }

        public void Dispose() => _watcher.Dispose();
    }
}
