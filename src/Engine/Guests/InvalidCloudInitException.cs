namespace Paddock.Engine.Guests;

/// <summary>
/// A <see cref="CloudInitConfig"/> that <see cref="CloudInitRules"/> refuses: which field, on which line of its YAML
/// when that is known, and why, in a sentence a person can read.
/// </summary>
/// <param name="field">
/// The field as a form would name it: <c>hostname</c>, <c>user</c>, <c>sshKeys[2]</c> (counted from 0, while the
/// message counts keys from 1), <c>password</c>, <c>userData</c>, <c>networkConfig</c>, <c>revision</c>.
/// </param>
/// <param name="line">The 1-based line in <c>userData</c> or <c>networkConfig</c> where the problem is, when known.</param>
/// <param name="message">The problem, e.g. <c>User-data line 4: ...</c>; it never repeats what a field holds when that could be a secret or span lines.</param>
public sealed class InvalidCloudInitException(string field, int? line, string message) : ArgumentException(message)
{
    /// <summary>The refused field, e.g. <c>userData</c> or <c>sshKeys[2]</c>.</summary>
    public string Field { get; } = field;

    /// <summary>The 1-based line of the YAML where the problem is, for <c>userData</c> and <c>networkConfig</c>.</summary>
    public int? Line { get; } = line;
}
