using System.Xml.Linq;
using Marten;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Paddock.Portal.Shared;

/// <summary>One key of the Data Protection key ring, as ASP.NET Core writes it (XML), kept in PostgreSQL.</summary>
public sealed class DataProtectionKey
{
    public string Id { get; set; } = "";

    public string Xml { get; set; } = "";
}

/// <summary>
/// The key ring that protects cookies and anti-forgery tokens lives in the database, not in one
/// process's home directory: every portal process reads the same keys, so a sign-in made through
/// one is honoured by the others and after any restart. The keys are as secret as the database is
/// (whoever reads it could forge a cookie; whoever reads it also has every account already).
/// </summary>
public sealed class KeyRing(IDocumentStore store) : IXmlRepository
{
    public const string ApplicationName = "Paddock";

    public IReadOnlyCollection<XElement> GetAllElements()
    {
        // The repository's interface is synchronous; nothing here runs on a synchronization context.
        using var session = store.QuerySession();
        return [.. session.Query<DataProtectionKey>().ToListAsync().GetAwaiter().GetResult().Select(k => XElement.Parse(k.Xml))];
    }

    /// <summary><paramref name="friendlyName"/> is "key-" and the key's id: two processes that make a key at once each keep theirs.</summary>
    public void StoreElement(XElement element, string friendlyName)
    {
        using var session = store.LightweightSession();
        session.Store(new DataProtectionKey { Id = friendlyName, Xml = element.ToString(SaveOptions.DisableFormatting) });
        session.SaveChangesAsync().GetAwaiter().GetResult();
    }

    public static void AddTo(WebApplicationBuilder builder)
    {
        builder.Services.AddDataProtection().SetApplicationName(ApplicationName);
        builder.Services.AddOptions<KeyManagementOptions>().Configure<IDocumentStore>((options, store) => options.XmlRepository = new KeyRing(store));
    }
}
