package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/recapi/recapi/store"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c *Config)
		wantErr string
	}{
		{name: "launch", args: []string{"-o", "x.recapi.zst", "--", "python3", "app.py", "--flag"}, check: func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"python3", "app.py", "--flag"}, c.Command)
			assert.Equal(t, "x.recapi.zst", c.Output)
			assert.Equal(t, time.Second, c.Interval)
		}},
		{name: "pids", args: []string{"--pid", "12", "--pid", "13,14"}, check: func(t *testing.T, c *Config) {
			assert.Equal(t, []int{12, 13, 14}, c.PIDs)
		}},
		{name: "a pid named twice is traced once", args: []string{"--pid", "12", "--pid", "13,12", "--pid", "12"}, check: func(t *testing.T, c *Config) {
			assert.Equal(t, []int{12, 13}, c.PIDs)
		}},
		{name: "environment default", args: []string{"--pid", "1"}, env: map[string]string{"RECAPI_INTERVAL": "250ms", "RECAPI_LOG_FORMAT": "json"},
			check: func(t *testing.T, c *Config) {
				assert.Equal(t, 250*time.Millisecond, c.Interval)
				assert.Equal(t, "json", c.LogFormat)
			}},
		{name: "flag beats environment", args: []string{"--pid", "1", "--interval", "2s"}, env: map[string]string{"RECAPI_INTERVAL": "250ms"},
			check: func(t *testing.T, c *Config) { assert.Equal(t, 2*time.Second, c.Interval) }},
		{name: "bad environment value", args: []string{"--pid", "1"}, env: map[string]string{"RECAPI_FLUSH_INTERVAL": "soon"}, wantErr: "$RECAPI_FLUSH_INTERVAL"},
		{name: "nothing to trace", args: nil, wantErr: "nothing to trace"},
		{name: "pid and command", args: []string{"--pid", "1", "--", "python3"}, wantErr: "either --pid or -- COMMAND"},
		{name: "not a pid", args: []string{"--pid", "abc"}, wantErr: "not a process id"},
		{name: "interval too short", args: []string{"--pid", "1", "--interval", "1ms"}, wantErr: "too short"},
		{name: "unknown mode", args: []string{"--pid", "1", "--mode", "budgeted"}, wantErr: "not available"},
		{name: "event buffer default", args: []string{"--pid", "1"}, check: func(t *testing.T, c *Config) {
			assert.Equal(t, 8<<20, int(c.EventBuffer))
			assert.Equal(t, "8M", c.EventBuffer.String())
		}},
		{name: "event buffer size", args: []string{"--pid", "1", "--event-buffer", "64k"}, check: func(t *testing.T, c *Config) {
			assert.Equal(t, 64<<10, int(c.EventBuffer))
		}},
		{name: "event buffer not a power of two", args: []string{"--pid", "1", "--event-buffer", "5M"}, wantErr: "--event-buffer 5M: use a power of two"},
		{name: "event buffer not a size", args: []string{"--pid", "1", "--event-buffer", "lots"}, wantErr: `"lots" is not a size`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, e := range envDefaults {
				t.Setenv(e.env, "")
				unsetenv(t, e.env)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := ParseArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// The help names every environment default.
func TestHelpNamesEnvironment(t *testing.T) {
	var out strings.Builder
	_, err := ParseArgs([]string{"-h"}, &out)
	require.True(t, errors.Is(err, flag.ErrHelp))
	for _, e := range envDefaults {
		assert.Contains(t, out.String(), "($"+e.env+")")
	}
}

// unsetenv removes a variable for the rest of the test (t.Setenv restores it).
func unsetenv(t *testing.T, k string) {
	t.Helper()
	require.NoError(t, os.Unsetenv(k))
}

func TestStoreFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "default store", args: nil, want: store.DefaultURL},
		{name: "-o alone writes only the file", args: []string{"-o", "x.recapi.zst"}, want: ""},
		{name: "--snapshot-dir alone", args: []string{"--snapshot-dir", "d"}, want: ""},
		{name: "-o and a store", args: []string{"-o", "x", "--store", "sqlite:/tmp/x.db"}, want: "sqlite:/tmp/x.db"},
		{name: "none", args: []string{"--store", "none"}, want: ""},
		{name: "postgres", args: []string{"--store", "postgres://u@127.0.0.1/db"}, want: "postgres://u@127.0.0.1/db"},
		{name: "bad url", args: []string{"--store", "/tmp/x.db"}, wantErr: "use sqlite:PATH"},
		{name: "short flush", args: []string{"--flush-interval", "1ms"}, wantErr: "too short"},
		{name: "keep zero", args: []string{"--snapshot-dir", "d", "--snapshot-keep", "0"}, wantErr: "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseArgs(append(tt.args, "--pid", "1"), io.Discard)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.storeURL())
			assert.Equal(t, 5*time.Second, c.FlushInterval)
		})
	}
}
