//go:build libsrt

package srt

import (
	"github.com/haivision/srtgo"
	"go.uber.org/goleak"
)

// transportLeakOptions: srtgo runs one process-wide poll goroutine from the
// first socket on, until srtgo.CleanupSRT.
func transportLeakOptions() []goleak.Option {
	return []goleak.Option{goleak.IgnoreAnyFunction("github.com/haivision/srtgo.(*pollServer).run")}
}

// transportCleanup stops srtgo's poller and libsrt before the test binary
// exits: libsrt's threads must not run while the process tears it down.
func transportCleanup() { srtgo.CleanupSRT() }

// missingSecretReason: libsrt answers a caller without encryption for a
// stream with a passphrase with "unsecure" (its own decision).
const missingSecretReason = rejectUnsecure
