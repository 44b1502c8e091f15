using System.CommandLine;

namespace Paddock.Cli;

/// <summary><c>paddock image list|upload</c>.</summary>
public static class ImageCommands
{
    public static Command Build()
    {
        var image = new Command("image", "ISOs and disk images.");
        var list = new Command("list", "The images you may use.");
        list.Runs(async (_, client, output, ct) => output.Write(await client.GetAsync("api/images", ct), "id", "name", "kind", "format", "sizeBytes", "visibility", "state"));
        image.Subcommands.Add(list);
        image.Subcommands.Add(Upload());
        return image;
    }

    private static Command Upload()
    {
        var file = new Argument<FileInfo>("file") { Description = "The file to upload." };
        var name = new Option<string?>("--name") { Description = "Its name in the library (default: the file's)." };
        var kind = new Option<string>("--kind") { Description = "iso or disk.", DefaultValueFactory = _ => "iso" };
        var format = new Option<string>("--format") { Description = "raw, qcow2, vmdk, vdi, vhdx or vpc (an ISO is raw).", DefaultValueFactory = _ => "raw" };
        var command = new Command("upload", "Uploads an ISO or a disk image, with a progress bar.") { file, name, kind, format };
        command.Runs(async (parse, client, output, ct) =>
        {
            var source = parse.GetValue(file)!;
            if (!source.Exists)
            {
                throw new UsageException($"No file {source.FullName}.");
            }

            var query = $"api/images?name={Uri.EscapeDataString(parse.GetValue(name) ?? source.Name)}&kind={Uri.EscapeDataString(parse.GetValue(kind)!)}&format={Uri.EscapeDataString(parse.GetValue(format)!)}";
            var bar = new ProgressBar(source.Length, Console.Error);
            var uploaded = await client.UploadAsync(query, source, bar, ct);
            bar.Done();
            output.Write(uploaded, "id", "name", "kind", "format", "sizeBytes", "state");
        });
        return command;
    }

    /// <summary>"[#######.....]  42%  120.0 of 285.3 MiB" on one line of standard error, redrawn as bytes go.</summary>
    private sealed class ProgressBar(long total, TextWriter writer) : IProgress<long>
    {
        private int _shown = -1;

        public void Report(long value)
        {
            var percent = total == 0 ? 100 : (int)(value * 100 / total);
            if (percent == _shown)
            {
                return;
            }

            _shown = percent;
            var filled = percent / 5;
            writer.Write($"\r[{new string('#', filled)}{new string('.', 20 - filled)}] {percent,3}%  {value / 1048576.0:0.0} of {total / 1048576.0:0.0} MiB");
        }

        public void Done() => writer.WriteLine();
    }
}
