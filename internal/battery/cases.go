package battery

import (
	"context"
	"time"
)

// hostileCase is one named attack. run returns an error when the server
// answered in a way it must not (or not at all where it must); the
// battery checks after every case that the server is alive and that the
// clean viewer saw no error.
type hostileCase struct {
	name    string
	timeout time.Duration // default 20s
	run     func(ctx context.Context, e *env) error
}

// allCases lists the cases in the order they run.
func allCases() []hostileCase {
	var cs []hostileCase
	cs = append(cs, rtmpCases()...)
	cs = append(cs, rtmpPublishCases()...)
	cs = append(cs, srtCases()...)
	cs = append(cs, rtspCases()...)
	cs = append(cs, httpCases()...)
	cs = append(cs, floodCases()...)
	return cs
}
