// Package rtsp is the RTSP ingest adapter: a server that accepts RECORD
// pushes (ffmpeg, GStreamer, encoders) and a client that pulls IP cameras.
// Both turn RTP into ingest Tracks and AccessUnits; gortsplib
// (bluenviron/gortsplib/v5) speaks the protocol.
//
// A publisher announces rtsp://HOST:8554/live/NAME and records over TCP
// (interleaved) or UDP (Options.UDPRTPAddr and UDPRTCPAddr, an even port
// and the next):
//
//	ffmpeg -re -i in.mp4 -c copy -f rtsp -rtsp_transport tcp rtsp://HOST:8554/live/demo
//
// A camera is pulled into a stream while the server runs, reconnecting with
// exponential backoff when it goes away; the packager keeps the stream for
// its reconnect grace, so the stream continues with a discontinuity:
//
//	srv, err := rtsp.New(rtsp.Options{
//		Publisher: registry, Logger: log, Registerer: reg,
//		UDPRTPAddr: rtsp.DefaultUDPRTPAddr, UDPRTCPAddr: rtsp.DefaultUDPRTCPAddr,
//		Pulls: []rtsp.Pull{{Name: "lobby", URL: "rtsp://user:pass@10.0.0.9:554/stream1"}},
//	})
//	if err != nil { ... }
//	if err := srv.Listen(); err != nil { ... } // optional: binds, so Addr() knows the port
//	go srv.Serve()                            // returns after Close
//	states := srv.PullStates()                // for the admin API
//	srv.Close()                               // ends every session and pull, and waits
//
// Reading (DESCRIBE, PLAY) is refused with 405 and a pointer to HLS and
// DASH. A refused publish gets a status and the reason as its message:
// 404 for a path other than live/NAME or an invalid name, 409 for a name
// that is being published, 415 for an SDP without a supported codec, 400
// for an SDP whose codec configuration is invalid, 403 for a publisher
// that publish auth refuses.
//
// Publish auth sees the URL's query (?key=) and the RTSP credentials
// (PublishInfo.Credentials: basic, or digest against the connection's
// nonce, realm "liveorigin"). A publisher that sent neither is answered
// 401 with WWW-Authenticate (an *ingest.ChallengeError: basic, and digest
// when the server knows the secret) and may answer on the same
// connection, as ffmpeg does with rtsp://USER:SECRET@HOST/live/NAME.
//
// Codecs: H.264 and H.265 (RFC 6184, 7798), AAC as mpeg4-generic (RFC
// 3640) or MP4A-LATM with the configuration in the SDP (RFC 6416), and Opus
// (RFC 7587). Other media of an SDP are ignored with a warning. RTP carries
// presentation timestamps only: the DTS of H.264/H.265 is derived from the
// picture order (mediacommon's DTS extractor), kept increasing and never
// after the PTS. Video tracks are declared at their first keyframe, with
// the parameter sets the stream uses: in-band ones where present, else the
// SDP's. They leave the samples for the init segment, and when they change
// the tracks are declared again (a new period). Sources that never set the
// RTP marker are reassembled by timestamp.
//
// Bad input ends that one session, never the server, with a log line and
// liveorigin_rtsp_errors_total{reason}: bad_media (a run of undecodable
// packets), bad_sequence (sequence numbers that are not a sequence),
// bad_timestamp (a track's clock jumping by more than 10 s),
// bad_parameter_sets, no_media (packets but no usable media for 3 ×
// ReadTimeout), read_timeout, panic. Camera credentials never appear in
// logs, errors or the API: URLs are shown as rtsp://xxxxx:xxxxx@host/path.
package rtsp
