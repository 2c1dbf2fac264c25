package limits

import "sync"

// signal tells waiters that something changed: the channel of C is closed
// at the next notify (the pattern of packager.Timeline.Changed).
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// C returns a channel closed at the next notify.
func (s *signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}
