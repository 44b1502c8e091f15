using System.ComponentModel;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Paddock.Engine.Qemu;

/// <summary>
/// Starts QEMU on Windows with CreateProcessW: detached from the agent's console and process group,
/// out of the agent's job where the agent is in one, with nothing of the agent's environment but
/// what Winsock needs, and with its output appended to the VM's files (as the launch script does on
/// Linux). Written against the Win32 documentation and compiled in CI; it has not run on Windows
/// (README, "Windows hosts"). The command line and the environment block are pure and unit-tested.
/// </summary>
internal static class WindowsLauncher
{
    private const uint DetachedProcess = 0x00000008;
    private const uint CreateNewProcessGroup = 0x00000200;
    private const uint CreateUnicodeEnvironment = 0x00000400;
    private const uint CreateBreakawayFromJob = 0x01000000;
    private const int StartfUseStdHandles = 0x00000100;
    private const int HandleFlagInherit = 0x1;
    private const int ErrorAccessDenied = 5;

    /// <summary>Starts <paramref name="argv"/> with stdout and stderr appended to <paramref name="stdout"/> and <paramref name="stderr"/>; returns its pid.</summary>
    public static int Start(IReadOnlyList<string> argv, string stdout, string stderr, string workingDirectory)
    {
        using var input = File.OpenHandle("NUL", FileMode.Open, FileAccess.Read);
        using var output = File.OpenHandle(stdout, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        using var errors = File.OpenHandle(stderr, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        foreach (var handle in new[] { input, output, errors })
        {
            if (!SetHandleInformation(handle, HandleFlagInherit, HandleFlagInherit))
                throw new Win32Exception(Marshal.GetLastPInvokeError(), "SetHandleInformation");
        }

        var startup = new StartupInfo
        {
            Size = Marshal.SizeOf<StartupInfo>(),
            Flags = StartfUseStdHandles,
            StdInput = input.DangerousGetHandle(),
            StdOutput = output.DangerousGetHandle(),
            StdError = errors.DangerousGetHandle(),
        };
        var environment = EnvironmentBlock(new Dictionary<string, string>
        {
            ["SystemRoot"] = Environment.GetEnvironmentVariable("SystemRoot") ?? @"C:\Windows",
            ["PATH"] = Path.GetDirectoryName(argv[0]) ?? "",
        });
        var flags = DetachedProcess | CreateNewProcessGroup | CreateUnicodeEnvironment;
        // Out of the agent's job where it may leave it, so that the agent's end is not QEMU's.
        if (Create(argv, flags | CreateBreakawayFromJob, environment, workingDirectory, ref startup) is { } pid)
            return pid;
        if (Marshal.GetLastPInvokeError() == ErrorAccessDenied && Create(argv, flags, environment, workingDirectory, ref startup) is { } inJob)
            return inJob;
        throw new Win32Exception(Marshal.GetLastPInvokeError(), $"CreateProcess {argv[0]}");
    }

    /// <summary>
    /// One command line that CommandLineToArgvW and the C runtime split back into
    /// <paramref name="argv"/>: an argument with a space, a tab or a quote (or none at all) goes in
    /// quotes, a quote inside is escaped, and backslashes are doubled only before a quote.
    /// </summary>
    public static string CommandLine(IReadOnlyList<string> argv)
    {
        ArgumentNullException.ThrowIfNull(argv);
        var line = new StringBuilder();
        foreach (var arg in argv)
        {
            if (line.Length > 0)
                line.Append(' ');
            if (arg.Length > 0 && arg.IndexOfAny([' ', '\t', '"', '\n', '\v']) < 0)
            {
                line.Append(arg);
                continue;
            }

            line.Append('"');
            var backslashes = 0;
            foreach (var c in arg)
            {
                if (c == '\\')
                {
                    backslashes++;
                    continue;
                }

                line.Append('\\', c == '"' ? backslashes * 2 + 1 : backslashes).Append(c);
                backslashes = 0;
            }

            line.Append('\\', backslashes * 2).Append('"');
        }

        return line.ToString();
    }

    /// <summary>A Unicode environment block: <c>NAME=value</c> strings, each ended by NUL, sorted by name without regard to case, then one more NUL.</summary>
    public static string EnvironmentBlock(IReadOnlyDictionary<string, string> variables)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var block = new StringBuilder();
        foreach (var (name, value) in variables.OrderBy(v => v.Key, StringComparer.OrdinalIgnoreCase))
            block.Append(name).Append('=').Append(value).Append('\0');
        return block.Append('\0').ToString();
    }

    private static int? Create(IReadOnlyList<string> argv, uint flags, string environment, string directory, ref StartupInfo startup)
    {
        // CreateProcessW may write into the command line: a buffer of its own, NUL-ended.
        var commandLine = (CommandLine(argv) + "\0").ToCharArray();
        if (!CreateProcessW(argv[0], commandLine, 0, 0, true, flags, environment, directory, ref startup, out var info))
            return null;
        CloseHandle(info.Thread);
        CloseHandle(info.Process);
        return info.ProcessId;
    }

    /// <summary>STARTUPINFOW on 64-bit Windows: 104 bytes.</summary>
    [StructLayout(LayoutKind.Sequential, CharSet = CharSet.Unicode)]
    internal struct StartupInfo
    {
        public const int ExpectedSize = 104;
        public int Size;
        public nint Reserved;
        public nint Desktop;
        public nint Title;
        public int X;
        public int Y;
        public int XSize;
        public int YSize;
        public int XCountChars;
        public int YCountChars;
        public int FillAttribute;
        public int Flags;
        public short ShowWindow;
        public short Reserved2Size;
        public nint Reserved2;
        public nint StdInput;
        public nint StdOutput;
        public nint StdError;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct ProcessInformation
    {
        public nint Process;
        public nint Thread;
        public int ProcessId;
        public int ThreadId;
    }

    [DllImport("kernel32.dll", SetLastError = true, CharSet = CharSet.Unicode)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool CreateProcessW(string application, [In, Out] char[] commandLine, nint processAttributes, nint threadAttributes,
        [MarshalAs(UnmanagedType.Bool)] bool inheritHandles, uint flags, string environment, string currentDirectory, ref StartupInfo startup,
        out ProcessInformation information);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool SetHandleInformation(SafeFileHandle handle, int mask, int flags);

    [DllImport("kernel32.dll", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool CloseHandle(nint handle);
}
