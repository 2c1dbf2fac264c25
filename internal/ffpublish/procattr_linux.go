package ffpublish

import "syscall"

// SysProcAttr puts a child process (ffmpeg, a server under test) in its own
// process group: a Ctrl-C at the terminal reaches only the program, which
// stops the child itself. (If the program dies, ffmpeg's next write to the
// closed RTMP connection ends it.)
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
