namespace Trainyard.Storage.Sqlite;
