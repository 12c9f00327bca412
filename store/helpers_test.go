package store_test

import (
	"database/sql"
	"testing"

	"github.com/stretchr/testify/require"
)

func bumpSchema(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE recapi_schema SET version = version + 1`)
	require.NoError(t, err)
}
