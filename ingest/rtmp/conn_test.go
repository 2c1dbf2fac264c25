package rtmp

import (
	"fmt"
	"testing"

	pkgerrors "github.com/pkg/errors"
	"github.com/sirupsen/logrus"
)

// TestLibraryLog: the error go-rtmp logs when it ends a connection is
// captured without its stack traces; other log lines are ignored.
func TestLibraryLog(t *testing.T) {
	chain := pkgerrors.Wrap(pkgerrors.Wrap(pkgerrors.New("Not assignable"), "Failed to decode 'publish' args[1]"), "outer")
	panicked := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = pkgerrors.WithStack(pkgerrors.Errorf("Panic: %+v", r))
			}
		}()
		panic("invalid state")
	}()
	for _, tc := range []struct {
		name, msg, want string
		panicked        bool
	}{
		{"wrapped chain", fmt.Sprintf("Server closed by error: Err = %+v", chain), "outer: Failed to decode 'publish' args[1]: Not assignable", false},
		{"recovered panic", fmt.Sprintf("Server closed by error: Err = %+v", panicked), "Panic: invalid state", true},
		{"other line", "Failed to wait writer: ID = 3", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, ll := newLibraryLogger()
			l.Error(tc.msg)
			l.Warn("Ignored unknown message body") // below the capture level
			got, p := ll.result()
			if got != tc.want || p != tc.panicked {
				t.Errorf("got %q panicked=%v, want %q panicked=%v", got, p, tc.want, tc.panicked)
			}
		})
	}
	if l, _ := newLibraryLogger(); l.IsLevelEnabled(logrus.InfoLevel) {
		t.Error("go-rtmp's info chatter is formatted")
	}
}
