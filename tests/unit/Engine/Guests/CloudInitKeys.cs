namespace Paddock.Unit.Engine.Guests;

/// <summary>Public keys made by ssh-keygen (OpenSSH 9), for configs that must pass the rules.</summary>
internal static class CloudInitKeys
{
    public const string Ed25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILynqml3ILuuJIWTjwXafVNgeCjUIi1Qh6sTi3r14ihy ann@laptop";

    public const string Ecdsa384 =
        "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBGbE8O8Ogc3o1ZUaH/OiMibtIb4h7L89zid10bYlwsoLbM4rvuuY8frpE3CgcRcSW++0yjxxFm9Ih4iz+MRvDdfqIFnRegkAB+PJDE1rYMPW4teu+t6JnuPIuOKLSQji3w== ci";

    /// <summary>The base64 of <see cref="Ed25519"/> alone.</summary>
    public static string Ed25519Data => Ed25519.Split(' ')[1];
}
