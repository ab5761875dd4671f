package provider

import "testing"

// TestCloneSuspected: the clone rule flags a counter that did not go up, only for passkeys that keep one.
func TestCloneSuspected(t *testing.T) {
	for _, tc := range []struct {
		name             string
		stored, reported uint32
		want             bool
	}{
		{"synced passkey: always 0", 0, 0, false},
		{"first use of a counting passkey", 0, 1, false},
		{"counter went up", 5, 6, false},
		{"counter went up a lot", 5, 5000, false},
		{"counter went backwards", 5, 4, true},
		{"counter stayed", 5, 5, true},
		{"counter reset to 0", 5, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CloneSuspected(tc.stored, tc.reported); got != tc.want {
				t.Errorf("CloneSuspected(%d, %d) = %v, want %v", tc.stored, tc.reported, got, tc.want)
			}
		})
	}
}
