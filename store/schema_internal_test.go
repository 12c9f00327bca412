package store

import "testing"

// Every backend migrates to SchemaVersion.
func TestMigrationsReachSchemaVersion(t *testing.T) {
	if len(sqliteMigrations) != SchemaVersion || len(pgMigrations) != SchemaVersion {
		t.Fatalf("SchemaVersion %d, but %d SQLite and %d PostgreSQL migrations", SchemaVersion, len(sqliteMigrations), len(pgMigrations))
	}
}
