// Package manifest renders the playback documents of a live stream from one
// immutable packager.Timeline snapshot: the HLS multivariant playlist, the
// HLS media playlists and the DASH MPD.
//
// The renderers are pure functions. They hold no state, start no goroutines,
// read no clock and know nothing of HTTP: the origin renders a document once
// per snapshot change and serves the bytes many times.
//
//	tl := stream.Timeline()                      // an immutable snapshot
//	index, err := manifest.Multivariant(tl)      // index.m3u8
//	video, err := manifest.MediaPlaylist(tl, "v0", manifest.MediaOptions{}) // v0.m3u8
//	mpd, err := manifest.MPD(tl, manifest.MPDOptions{Now: tl.Updated}) // manifest.mpd
//
// Every URL in a document is relative to the stream's directory
// (/live/NAME/): media playlists are NAME.m3u8 ("v0.m3u8"), init segments
// and media segments live under the rendition name ("v0/init-….mp4",
// "v0/<start>.m4s"), so the same store serves HLS and DASH.
//
// Errors: packager.ErrNotYet (wrapped) while a track has no segment yet,
// packager.ErrNotFound for an unknown rendition, and a plain error for a
// snapshot that cannot be rendered validly (a packager bug, such as a zero
// timescale).
//
// Specifications followed: HLS draft-pantos-hls-rfc8216bis (version 7
// playlists with EXT-X-MAP, EXT-X-PROGRAM-DATE-TIME on every segment; with
// parts, Low-Latency HLS: llhls.go), DASH ISO/IEC 23009-1 with the DASH-IF
// IOP timing model (dynamic MPD anchored at 1970-01-01T00:00:00Z,
// SegmentTemplate with $Time$ and a SegmentTimeline; with parts, low-latency
// DASH: lldash.go).
package manifest
