using JasperFx;
using Npgsql;
using Paddock.Portal.Shared;

namespace Paddock.Unit.Portal.Shared;

public sealed class StoreConflictsTests
{
    private static PostgresException Unique(string constraint) =>
        new("duplicate key value violates unique constraint", "ERROR", "ERROR", PostgresErrorCodes.UniqueViolation, constraintName: constraint);

    [Fact]
    public void A_unique_index_that_Marten_reports_as_an_existing_document_is_named_by_its_constraint()
    {
        // What Marten throws for a label drawn twice: the VM's insert, transformed.
        var label = new DocumentAlreadyExistsException(Unique("uq_vm_label"), typeof(object), Guid.NewGuid());
        Assert.Equal("uq_vm_label", StoreConflicts.UniqueViolation(label));
        Assert.Equal("uq_vm_owner_name", StoreConflicts.UniqueViolation(new InvalidOperationException("save", Unique("uq_vm_owner_name"))));

        // A document or stream that exists, with no database error inside, is a stream taken.
        Assert.Equal("stream", StoreConflicts.UniqueViolation(new DocumentAlreadyExistsException(new InvalidOperationException(), typeof(object), Guid.NewGuid())));
        Assert.Null(StoreConflicts.UniqueViolation(new InvalidOperationException("something else")));
    }
}
