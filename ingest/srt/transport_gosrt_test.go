//go:build !libsrt

package srt

import "go.uber.org/goleak"

// transportLeakOptions: gosrt's goroutines all end with their listener.
func transportLeakOptions() []goleak.Option { return nil }

// transportCleanup: nothing to release.
func transportCleanup() {}

// missingSecretReason: gosrt answers a caller without encryption for a
// stream with a passphrase with "bad secret", as the docs say.
const missingSecretReason = rejectBadSecret
