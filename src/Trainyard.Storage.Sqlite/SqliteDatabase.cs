using Microsoft.Data.Sqlite;

namespace Trainyard.Storage.Sqlite;

/// <summary>
/// One connection to the Trainyard database file, shared by the store and the queues of a backend. Calls are
/// serialized in-process; other processes are kept out by SQLite's own locks (WAL, busy timeout, BEGIN IMMEDIATE for
/// read-modify-write transactions). Commands are kept prepared per SQL text.
/// </summary>
internal sealed class SqliteDatabase : IDisposable
{
    /// <summary>Schema version written to PRAGMA user_version.</summary>
    public const int SchemaVersion = 1;

    private readonly SqliteConnection _connection;
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    public SqliteDatabase(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 60,
        }.ToString());
        _connection.Open();
        Exec("PRAGMA busy_timeout = 30000;");
        // WAL lets readers and one writer of different processes work at once; NORMAL sync survives process crashes.
        Exec("PRAGMA journal_mode = WAL;");
        Exec("PRAGMA synchronous = NORMAL;");
        // Snapshots of big runs are rewritten on every commit; a larger page cache keeps them out of the file reads.
        Exec("PRAGMA cache_size = -16384;");
        Exec("PRAGMA temp_store = MEMORY;");
        Migrate();
    }

    public string Path { get; }

    /// <summary>Runs <paramref name="work"/> with the connection, alone in this process.</summary>
    public T Run<T>(Func<SqliteDatabase, T> work)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return work(this);
        }
    }

    /// <summary>Runs <paramref name="work"/> inside a write transaction (BEGIN IMMEDIATE), rolled back on any exception.</summary>
    public T InTransaction<T>(Func<SqliteDatabase, T> work)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Exec("BEGIN IMMEDIATE;");
            try
            {
                var result = work(this);
                Exec("COMMIT;");
                return result;
            }
            catch
            {
                Exec("ROLLBACK;");
                throw;
            }
        }
    }

    /// <summary>A prepared command for <paramref name="sql"/> with the given parameters bound.</summary>
    public SqliteCommand Command(string sql, params (string Name, object? Value)[] parameters)
    {
        if (!_commands.TryGetValue(sql, out var cmd))
        {
            cmd = _connection.CreateCommand();
            cmd.CommandText = sql;
            _commands[sql] = cmd;
        }

        cmd.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return cmd;
    }

    public int Exec(string sql, params (string Name, object? Value)[] parameters) => Command(sql, parameters).ExecuteNonQuery();

    public object? Scalar(string sql, params (string Name, object? Value)[] parameters) => Command(sql, parameters).ExecuteScalar();

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var c in _commands.Values)
            {
                c.Dispose();
            }

            _connection.Dispose();
        }
    }

    private void Migrate()
    {
        var version = Convert.ToInt64(Scalar("PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
        if (version == SchemaVersion)
        {
            return;
        }

        if (version > SchemaVersion)
        {
            throw new InvalidOperationException($"Database '{Path}' has schema version {version}, newer than this Trainyard ({SchemaVersion}); upgrade Trainyard or use another database file.");
        }

        InTransaction(db =>
        {
            // Another process may have migrated while we waited for the write lock.
            var current = Convert.ToInt64(db.Scalar("PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
            if (current == SchemaVersion)
            {
                return 0;
            }

            db.Exec("""
                CREATE TABLE IF NOT EXISTS runs (
                    run_id TEXT PRIMARY KEY,
                    snapshot TEXT NOT NULL,
                    etag TEXT NOT NULL,
                    pipeline_name TEXT NOT NULL,
                    pipeline_hash TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    finished_at INTEGER NULL,
                    trigger_kind TEXT NULL);
                CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at DESC, run_id DESC);
                CREATE TABLE IF NOT EXISTS journal (
                    run_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    event TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS outbox (
                    ord INTEGER PRIMARY KEY AUTOINCREMENT,
                    run_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    target INTEGER NOT NULL,
                    body TEXT NOT NULL,
                    visible_at INTEGER NULL,
                    UNIQUE (run_id, id));
                CREATE TABLE IF NOT EXISTS kv (
                    scope TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    etag TEXT NOT NULL,
                    PRIMARY KEY (scope, key)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS pipelines (
                    hash TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    spec TEXT NOT NULL,
                    registered_at INTEGER NOT NULL,
                    source TEXT NULL);
                CREATE INDEX IF NOT EXISTS pipelines_by_name ON pipelines (name, registered_at DESC);
                CREATE TABLE IF NOT EXISTS queue (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    queue TEXT NOT NULL,
                    id TEXT NOT NULL,
                    body TEXT NOT NULL,
                    visible_at INTEGER NOT NULL,
                    dequeue_count INTEGER NOT NULL DEFAULT 0,
                    receipt TEXT NULL);
                CREATE INDEX IF NOT EXISTS queue_by_visible ON queue (queue, visible_at, seq);
                """);
            db.Exec($"PRAGMA user_version = {SchemaVersion};");
            return 0;
        });
    }
}
