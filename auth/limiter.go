package auth

import (
	"sync"
	"time"
)

// Slow-down of repeated failures: after FailureBurst failures within
// FailureWindow from one address, each further attempt from it waits
// FirstDelay, doubling with each further failure up to MaxDelay.
const (
	FailureBurst  = 5
	FailureWindow = time.Minute
	FirstDelay    = time.Second
	MaxDelay      = 10 * time.Second
	// maxTracked caps the addresses remembered: a flood from many
	// addresses costs bounded memory (the oldest-looking entries go).
	maxTracked = 4096
)

// limiter counts failures per address. Entries expire FailureWindow after
// their last failure; no goroutine runs per address: expiry happens when
// the map is consulted.
type limiter struct {
	mu   sync.Mutex
	max  int
	seen map[string]*failures
}

type failures struct {
	n     int       // failures since first
	first time.Time // start of the window
	last  time.Time
}

func newLimiter(max int) *limiter {
	return &limiter{max: max, seen: make(map[string]*failures)}
}

// delay is how long an attempt from addr waits before it is answered.
func (l *limiter) delay(addr string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[addr]
	if f == nil {
		return 0
	}
	if now.Sub(f.last) > FailureWindow {
		delete(l.seen, addr)
		return 0
	}
	if f.n < FailureBurst {
		return 0
	}
	d := FirstDelay
	for i := FailureBurst; i < f.n && d < MaxDelay; i++ {
		d *= 2
	}
	return min(d, MaxDelay)
}

// fail records a failure from addr.
func (l *limiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.seen[addr]
	if f != nil && now.Sub(f.last) > FailureWindow {
		f = nil
	}
	if f == nil {
		if len(l.seen) >= l.max {
			l.evict(now)
		}
		f = &failures{first: now}
		l.seen[addr] = f
	}
	// A slowed-down address stays slowed down while it keeps failing; one
	// below the burst starts a new window after FailureWindow.
	if f.n < FailureBurst && now.Sub(f.first) > FailureWindow {
		f.n, f.first = 0, now
	}
	f.n++
	f.last = now
}

// succeed forgets addr: a publisher that got its key right is not slowed.
func (l *limiter) succeed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.seen, addr)
}

// evict drops the expired entries and, when none has expired, the one
// with the oldest last failure. Called with l.mu held and the map full.
func (l *limiter) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for a, f := range l.seen {
		if now.Sub(f.last) > FailureWindow {
			delete(l.seen, a)
			continue
		}
		if oldest == "" || f.last.Before(oldestAt) {
			oldest, oldestAt = a, f.last
		}
	}
	if len(l.seen) >= l.max && oldest != "" {
		delete(l.seen, oldest)
	}
}

// tracked is the number of addresses remembered (tests).
func (l *limiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}
