// Package battery is liveorigin's hostile-input battery: against a running
// liveorigin with one clean stream being played, it runs every hostile
// publisher and client we could devise, each as a named case with its own
// result, and checks that the server took no harm.
//
//	rep, err := battery.Run(ctx, battery.Target{Admin: "127.0.0.1:9997"}, battery.Options{})
//	if err != nil { ... }      // the setup failed: no clean stream, no admin API
//	rep.WriteText(os.Stdout)    // one line per case, then the summary
//	if !rep.Passed() { ... }
//
// Run publishes the clean stream with ffmpeg over RTMP (a test pattern and
// a tone, in real time) and plays it as a viewer: it polls every HLS media
// playlist and fetches every init segment and segment; a non-2xx answer or
// no new segment for three target durations is an error. Meanwhile it runs
// the cases one after another (cases.go lists them): RTMP (random bytes,
// garbage after a valid handshake, truncated and oversized chunks, chunk
// size abuse, AMF0 bombs, lying lengths inside FLV tags, codec and
// resolution changes, timestamp jumps and the 32-bit wrap, a keyframe-less
// stream, a publish on the clean stream's name), SRT (random datagrams,
// handshake floods, bad stream ids, garbage after a valid handshake), RTSP
// (random bytes, huge headers, a bad ANNOUNCE SDP, RECORD without SETUP,
// interleaved garbage) and HTTP (path traversal, oversized query strings
// and headers, bad _HLS_msn/_HLS_part), and thousands of half-open
// connections on the TCP ports.
//
// It passes when every case passed, the server is alive (Target.Alive),
// the clean viewer saw no error, and after the cases the server's
// goroutines and heap (go_goroutines and go_memstats_heap_inuse_bytes on
// the admin /metrics, after a GC asked through /debug/pprof/heap?gc=1)
// return to within Options.GoroutineSlack and Options.HeapSlack of the
// baseline taken before the cases. cmd/battery is the program around it;
// docs/security.md ("Hostile-input battery") says how to run it.
package battery
