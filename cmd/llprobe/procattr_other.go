//go:build !linux

package main

import "syscall"

// procAttr: the defaults elsewhere (a Ctrl-C also reaches ffmpeg, which
// the probe then reports as stopped early).
func procAttr() *syscall.SysProcAttr { return nil }
