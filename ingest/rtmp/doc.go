// Package rtmp is the RTMP ingest adapter: it accepts publishers such as
// OBS and ffmpeg and turns their FLV tags into ingest Tracks and
// AccessUnits.
//
// A publisher connects to rtmp://HOST/live and publishes the stream key
// NAME (ffmpeg: rtmp://HOST/live/NAME). Anything after a '?' in the key
// (NAME?key=SECRET) is kept for publish authentication and never logged.
//
//	srv, err := rtmp.New(rtmp.Options{Addr: ":1935", Publisher: registry, Logger: log, Registerer: reg})
//	if err != nil { ... }
//	if err := srv.Listen(); err != nil { ... } // optional: binds, so Addr() knows the port
//	go srv.Serve()                            // returns after Close
//	...
//	srv.Close()                               // ends every publisher and waits
//
// RTMPS (RTMP inside TLS: rtmps://HOST/live) is a second listener of the
// same Server, Options.TLSAddr with Options.TLSConfig (the daemon's reloading
// certificate, TLS 1.2 or later); its connections take the same path as
// RTMP ones. The TLS handshake runs on the connection's goroutine within
// HandshakeTimeout; a failed one counts liveorigin_rtmp_errors_total{reason=
// "handshake"}.
//
// Supported: legacy FLV H.264 (codec id 7) and AAC (sound format 10);
// enhanced RTMP (E-RTMP v1/v2, OBS 30+) 'avc1', 'hvc1' and 'av01' video and
// 'mp4a' and 'Opus' audio, including the default track (id 0) of a
// multitrack stream. Timestamps are RTMP's milliseconds (Track.ClockRate
// 1000), extended past the 32-bit wrap.
//
// The tracks are declared once known: onMetaData says which codecs to
// expect, and the stream starts when each expected sequence header has
// arrived, or after Options.ProbeTimeout of media without it (audio-only
// and video-only publishers work without metadata too). Frames that arrive
// meanwhile are buffered and written after Start.
//
// Malformed input ends that one connection with a log line naming the
// stream, the remote address and the problem, and counts
// liveorigin_rtmp_errors_total{reason}; it never ends the server. go-rtmp
// (yutopp/go-rtmp) does the chunk protocol; its logging is silenced, and
// the error that ended a connection is taken from it for our own log line.
// A guard follows the chunk stream ahead of go-rtmp and refuses what would
// hurt the process rather than the connection (guard.go): messages larger
// than MaxTagSize (audio, video) or 1 MiB (anything else), and AMF0 values
// that would make go-amf0 allocate beyond the message or recurse deeper
// than 64 levels. FuzzConn fuzzes whole connections.
package rtmp
