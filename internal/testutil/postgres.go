package testutil

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names a PostgreSQL server for the tests to use instead of
// starting their own: a URL such as scripts/start-postgres.sh prints. The
// tests create and drop their own databases in it.
const PostgresEnv = "RECAPI_TEST_POSTGRES"

// Postgres returns the URL of a PostgreSQL server for t: $RECAPI_TEST_POSTGRES
// when set, or else, when running as root, a throwaway server that
// scripts/start-postgres.sh starts on 127.0.0.1 and t.Cleanup stops. Without
// either, or in a unit run (RECAPI_SKIP_PRIVILEGED_TESTS=1, which starts no
// server), it skips t, or fails it when privileged tests are required
// (RECAPI_PRIVILEGED_TESTS=1).
func Postgres(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(PostgresEnv); u != "" {
		return u
	}
	reason := skippedHere()
	script := filepath.Join(RepoRoot(t), "scripts", "start-postgres.sh")
	if reason != "" {
		reason = fmt.Sprintf("needs a PostgreSQL server: set %s to its URL; %s", PostgresEnv, reason)
	} else if os.Geteuid() != 0 {
		reason = fmt.Sprintf("needs a PostgreSQL server: set %s to its URL (sudo scripts/start-postgres.sh prints one), or run as root to start one", PostgresEnv)
	} else if dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(dirs) == 0 {
		reason = "needs PostgreSQL: install it with sudo scripts/install-deps.sh"
	} else {
		dir, err := os.MkdirTemp("", "recapi-pg-")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(script)
		cmd.Env = append(os.Environ(), "RECAPI_PG_DIR="+dir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err == nil {
			t.Cleanup(func() {
				if out, err := exec.Command(script, "--stop", dir).CombinedOutput(); err != nil {
					t.Errorf("stop PostgreSQL in %s: %v\n%s", dir, err, out)
				}
			})
			return strings.TrimSpace(stdout.String())
		} else {
			os.RemoveAll(dir)
			reason = fmt.Sprintf("could not start PostgreSQL with %s: %v\n%s", script, err, stderr.String())
		}
	}
	if os.Getenv(PrivilegedEnv) == "1" {
		t.Fatalf("%s; PostgreSQL tests are required in this run (%s=1)", reason, PrivilegedEnv)
	}
	t.Skip(reason)
	return ""
}

// PostgresDatabase creates an empty database on the server at serverURL and
// returns its URL; t.Cleanup drops it.
func PostgresDatabase(t testing.TB, serverURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL at %s: %v", serverURL, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "recapi_test_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			t.Errorf("connect to drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("parse %s: %v", serverURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
