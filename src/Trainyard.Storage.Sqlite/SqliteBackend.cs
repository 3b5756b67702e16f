using Trainyard.Execution.Artifacts;
using Trainyard.Runtime.Contracts;
using Trainyard.Execution.Contracts;

namespace Trainyard.Storage.Sqlite;

/// <summary>
/// The embedded default backend: one SQLite file (WAL mode) holding runs, journals, outboxes, key-values, pipeline
/// versions and both queues, with artifacts as files beside it. Several worker processes may open the same file.
/// </summary>
public sealed class SqliteBackend : IBackend
{
    /// <summary>Default database path, relative to the working directory.</summary>
    public const string DefaultPath = ".trainyard/trainyard.db";

    private readonly SqliteDatabase _db;

    private SqliteBackend(SqliteDatabase db, string artifactsRoot, TimeProvider time)
    {
        _db = db;
        Store = new SqliteRunStore(db);
        Control = new SqliteMessageQueue(db, "control", time);
        Work = new SqliteMessageQueue(db, "work", time);
        Artifacts = new FileSystemArtifactStore(artifactsRoot);
    }

    /// <summary>
    /// Opens (creating when missing) the database at <paramref name="path"/> (default `.trainyard/trainyard.db`);
    /// artifacts go to an `artifacts` folder beside it unless <paramref name="artifactsRoot"/> says otherwise.
    /// </summary>
    public static SqliteBackend Open(string? path = null, string? artifactsRoot = null, TimeProvider? time = null)
    {
        var full = Path.GetFullPath(path ?? DefaultPath);
        var db = new SqliteDatabase(full);
        try
        {
            return new SqliteBackend(db, artifactsRoot ?? Path.Combine(Path.GetDirectoryName(full)!, "artifacts"), time ?? TimeProvider.System);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>Full path of the database file.</summary>
    public string DatabasePath => _db.Path;

    /// <inheritdoc />
    public string Name => "sqlite";

    /// <inheritdoc />
    public IRunStore Store { get; }

    /// <inheritdoc />
    public IMessageQueue Control { get; }

    /// <inheritdoc />
    public IMessageQueue Work { get; }

    /// <inheritdoc />
    public IArtifactStore Artifacts { get; }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _db.Dispose();
        return ValueTask.CompletedTask;
    }
}
