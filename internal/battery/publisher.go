package battery

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// encode runs ffmpeg to completion with args and returns its output.
func encode(ctx context.Context, ffmpeg string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(ffmpeg); err != nil {
		return nil, fmt.Errorf("%s not found: install it with `make deps` (Debian: apt-get install ffmpeg): %w", ffmpeg, err)
	}
	cmd := exec.CommandContext(ctx, ffmpeg, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		msg := errs.String()
		if len(msg) > 4096 {
			msg = msg[:4096]
		}
		return nil, fmt.Errorf("ffmpeg %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return out.Bytes(), nil
}
