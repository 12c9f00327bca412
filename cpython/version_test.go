package cpython

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name, in string
		want     Version
		wantErr  bool
	}{
		{name: "final", in: "3.11.2", want: Version{3, 11, 2, ""}},
		{name: "two-digit patch", in: "3.10.13", want: Version{3, 10, 13, ""}},
		{name: "release candidate", in: "3.13.0rc2", want: Version{3, 13, 0, "rc2"}},
		{name: "alpha from a checkout", in: "3.14.0a1+", want: Version{3, 14, 0, "a1+"}},
		{name: "beta", in: "3.12.0b4", want: Version{3, 12, 0, "b4"}},
		{name: "python 2", in: "2.7.18", want: Version{2, 7, 18, ""}},
		{name: "missing patch", in: "3.11", wantErr: true},
		{name: "trailing text", in: "3.11.2 (main, Mar 13 2023)", wantErr: true},
		{name: "garbage", in: "three", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseVersion(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.in, got.String())
		})
	}
}

func TestVersionFromHex(t *testing.T) {
	tests := []struct {
		name    string
		in      uint64
		want    Version
		wantErr bool
	}{
		{name: "3.11.2 final", in: 0x030b02f0, want: Version{3, 11, 2, ""}},
		{name: "3.13.0 final", in: 0x030d00f0, want: Version{3, 13, 0, ""}},
		{name: "3.13.0rc2", in: 0x030d00c2, want: Version{3, 13, 0, "rc2"}},
		{name: "3.14.0a1", in: 0x030e00a1, want: Version{3, 14, 0, "a1"}},
		{name: "3.12.0b3", in: 0x030c00b3, want: Version{3, 12, 0, "b3"}},
		{name: "bad level", in: 0x030b0250, wantErr: true},
		{name: "zero", in: 0, wantErr: true},
		{name: "too wide", in: 0x1_030b02f0, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VersionFromHex(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
