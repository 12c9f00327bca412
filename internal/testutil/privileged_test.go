package testutil

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fakeTB records how a helper ended the test. Like testing.T, Skipf and
// Fatalf do not return.
type fakeTB struct {
	testing.TB
	ended string // "skip: ..." or "fatal: ..."
}

type stop struct{}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.ended = "skip: " + fmt.Sprintf(format, args...)
	panic(stop{})
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.ended = "fatal: " + fmt.Sprintf(format, args...)
	panic(stop{})
}

// outcome runs RequireRoot and says whether the test went on, skipped or
// failed.
func outcome(t *testing.T) (string, string) {
	t.Helper()
	f := &fakeTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != (stop{}) {
				panic(r)
			}
		}()
		RequireRoot(f, "test")
	}()
	switch {
	case f.ended == "":
		return "run", ""
	case f.ended[0] == 's':
		return "skip", f.ended
	default:
		return "fail", f.ended
	}
}

func TestRequirePrivileges(t *testing.T) {
	root := os.Geteuid() == 0
	ifRoot := func(yes, no string) string {
		if root {
			return yes
		}
		return no
	}
	tests := []struct {
		name, skip, required string
		want                 string
	}{
		{name: "default", want: ifRoot("run", "skip")},
		{name: "required", required: "1", want: ifRoot("run", "fail")},
		{name: "unit run", skip: "1", want: "skip"},
		// A run cannot leave out what it requires: a skip there fails.
		{name: "unit run and required", skip: "1", required: "1", want: "fail"},
		{name: "other values mean unset", skip: "0", required: "yes", want: ifRoot("run", "skip")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(SkipPrivilegedEnv, tt.skip)
			t.Setenv(PrivilegedEnv, tt.required)
			got, msg := outcome(t)
			assert.Equal(t, tt.want, got, msg)
			if tt.skip == "1" {
				assert.Contains(t, msg, SkipPrivilegedEnv+"=1", "the message names the variable that left the test out")
			}
		})
	}
}
