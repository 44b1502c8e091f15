namespace Paddock.Engine.Isolation;

/// <summary>
/// Something a VM's uid controls (its sockets, its disks' headers) was not what the agent made it:
/// the operation is refused, and the portal records the refusal in the audit log.
/// </summary>
public class TamperingException(string message, Exception? inner = null) : IOException(message, inner)
{
    /// <summary>Whether <paramref name="e"/> or one it wraps is a refusal of this kind.</summary>
    public static bool IsCause(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is TamperingException)
                return true;
        }

        return false;
    }
}
