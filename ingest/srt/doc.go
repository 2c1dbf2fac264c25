// Package srt is the SRT ingest adapter: it accepts SRT callers sending
// MPEG-TS (ffmpeg, OBS, srt-live-transmit, hardware encoders) and turns
// their streams into ingest Tracks and AccessUnits.
//
// A caller names the stream in its stream id, in any of these forms:
//
//	srt://HOST:9000?streamid=publish:live/NAME
//	srt://HOST:9000?streamid=#!::r=live/NAME,m=publish   (SRT Access Control; u=, s=, h=, t=stream too)
//	srt://HOST:9000?streamid=live/NAME
//
// A percent-encoded stream id is decoded first. A missing m= means publish.
// Callers that ask to read (m=request, read:, play:) are refused with
// SRT_REJX_BAD_MODE: playback is over HLS and DASH.
//
//	srv, err := srt.New(srt.Options{Addr: ":9000", Publisher: registry, Logger: log, Registerer: reg})
//	if err != nil { ... }                     // e.g. a passphrase outside 10 to 79 characters
//	if err := srv.Listen(); err != nil { ... } // optional: binds, so Addr() knows the port
//	log.Info("srt", "transport", srv.Transport())
//	go srv.Serve()                            // returns after Close
//	...
//	srv.Close()                               // ends every publisher and waits
//
// # Handshake
//
// Everything that can be decided from the stream id is decided during the
// SRT handshake, so that the caller gets an SRT rejection reason rather than
// a connection that opens and closes: a malformed stream id
// (REJX_BAD_REQUEST), an application other than "live" (REJX_NOTFOUND), an
// invalid name (REJX_BAD_REQUEST), reading (REJX_BAD_MODE), a stream that
// already has a publisher (REJX_CONFLICT), shutdown (REJX_DOWN). The
// passphrase is Options.StreamPassphrases[NAME], else Options.Passphrase;
// a wrong one is refused with REJ_BADSECRET, a caller that encrypts for a
// stream without one with REJ_UNSECURE. Each refusal is logged and counted
// in liveorigin_srt_refused_total{reason}.
//
// # Transports
//
// The default build uses datarhei/gosrt, in pure Go. The build tag libsrt
// switches to the reference implementation, libsrt through haivision/srtgo
// (cgo; Debian: libsrt-openssl-dev). Both sit behind one small interface
// (transport.go); the rest of the package is shared. Where they differ:
//
//   - libsrt checks the passphrase itself, after our listen callback: its
//     refusals (REJ_BADSECRET, and REJ_UNSECURE for a caller without
//     encryption, where gosrt answers REJ_BADSECRET) are not logged or
//     counted by us;
//   - libsrt has accepted the connection by the time we can ask the
//     Publisher, so a name published over another protocol closes the
//     connection instead of rejecting the handshake (a name held by another
//     SRT caller is still rejected with REJX_CONFLICT);
//   - libsrt listens on IPv4 only for a host-less address (":9000"), and
//     its log level is set to critical for the whole process (its default
//     prints a line per junk handshake).
//
// # MPEG-TS
//
// The demuxer (demux.go) takes the first H.264 or H.265 stream and the
// first AAC (ADTS) or Opus stream of the program; others are ignored with a
// warning. Video is configured from the parameter sets sent in-band at a
// keyframe and dropped until then (a caller may join mid-GOP); changed
// parameter sets at a later keyframe start a new period (Session.Start
// again). Timestamps stay in 90 kHz (Track.ClockRate 90000) and are
// extended past the 33-bit wrap on one clock for all streams; jumps are
// passed on for the packager to handle. Each SRT message is read into a
// 1500-byte buffer (srt-live-transmit sends 1456 bytes, ffmpeg 1316).
//
// Bad input ends that one connection with a log line naming the stream, the
// caller and the problem, and liveorigin_srt_errors_total{reason}: payload
// that is not MPEG-TS (not_ts), no program table (no_program), no usable
// codec (unsupported_codec), bytes but no media for 3×ReadTimeout
// (no_media), nothing at all for ReadTimeout (read_timeout).
//
// # Metrics
//
// liveorigin_srt_connections_total, _connections_active,
// _bytes_received_total, _errors_total{reason}, _refused_total{reason},
// and per stream while its publisher is connected (deleted when it leaves;
// counters start at 0 with each publish session): _rtt_seconds,
// _packets_lost_total, _packets_retransmitted_total and
// _packets_dropped_total, from the receiver's link statistics sampled
// about once a second.
package srt
