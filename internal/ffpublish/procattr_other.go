//go:build !linux

package ffpublish

import "syscall"

// SysProcAttr: the defaults elsewhere (a Ctrl-C also reaches the child,
// which the program then reports as stopped early).
func SysProcAttr() *syscall.SysProcAttr { return nil }
