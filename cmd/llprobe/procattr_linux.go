package main

import "syscall"

// procAttr puts ffmpeg in its own process group: a Ctrl-C at the terminal
// reaches only the probe, which stops ffmpeg itself after the clients. (If
// the probe dies, ffmpeg's next write to the closed RTMP connection ends it.)
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
