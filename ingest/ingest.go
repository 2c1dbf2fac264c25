// Package ingest is the codec-neutral contract between protocol adapters
// (ingest/rtmp, ingest/srt, ingest/rtsp) and the packager.
//
// An adapter only demuxes. It turns its protocol's framing into Tracks and
// AccessUnits and hands them to a Publisher:
//
//	sess, err := pub.Publish(ctx, ingest.PublishInfo{Name: "demo", Protocol: "rtmp", RemoteAddr: addr})
//	if err != nil { /* refuse with the protocol's own error; err says why */ }
//	defer sess.Close(nil)
//	if err := sess.Start(tracks); err != nil { ... } // once the codec configurations are known
//	for au := range aus { if err := sess.WriteAU(au); err != nil { return err } }
//
// Codec knowledge (parameter sets, codec strings, sample formats, audio frame
// lengths) lives here once, in codec*.go, so every adapter produces the same Track for the same
// stream.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
)

// Kind says whether a track carries video or audio.
type Kind uint8

const (
	Video Kind = iota + 1
	Audio
)

func (k Kind) String() string {
	switch k {
	case Video:
		return "video"
	case Audio:
		return "audio"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Codec names a coding format.
type Codec string

const (
	H264 Codec = "h264"
	H265 Codec = "h265"
	AV1  Codec = "av1"
	AAC  Codec = "aac"
	Opus Codec = "opus"
)

// Kind returns the kind of track the codec belongs to, or 0 when unknown.
func (c Codec) Kind() Kind {
	switch c {
	case H264, H265, AV1:
		return Video
	case AAC, Opus:
		return Audio
	}
	return 0
}

// Track describes one elementary stream of a publish session. It is built by
// the constructors in codec*.go, which parse the codec configuration and fill
// in the derived fields (resolution, codec string, sample rate, channels,
// frame length). Consumers trust those fields and do not parse the
// configuration again.
type Track struct {
	Kind  Kind
	Codec Codec
	// ClockRate is the number of AccessUnit timestamp units per second
	// (RTMP: 1000, MPEG-TS: 90000, RTP: the payload's clock rate).
	ClockRate uint32

	// CodecString is the RFC 6381 codecs value, e.g. "avc1.64001f", "mp4a.40.2".
	CodecString string

	// Video.
	Width, Height int
	// VPS, SPS and PPS are the H.264/H.265 parameter sets: raw NAL units,
	// without start codes or length prefixes.
	VPS, SPS, PPS [][]byte
	// AV1Config is the AV1CodecConfigurationRecord (the av1C box payload),
	// including the sequence header OBU.
	AV1Config []byte

	// Audio.
	SampleRate int
	Channels   int
	// FrameSamples is the number of audio samples per access unit, at
	// SampleRate, for codecs with fixed frames (AAC-LC 1024, HE-AAC 2048
	// output samples); 0 when each packet carries its own duration (Opus:
	// see OpusPacketSamples).
	FrameSamples int
	// AudioSpecificConfig is the AAC decoder configuration (ISO 14496-3).
	AudioSpecificConfig []byte
	// OpusPreSkip is the Opus pre-skip in 48 kHz samples.
	OpusPreSkip uint16
}

// AccessUnit is one sample of one track: a video frame or an audio frame.
type AccessUnit struct {
	// Track is the index of the track in the slice given to Session.Start.
	Track int
	// DTS and PTS are in the track's ClockRate units. Their origin is
	// arbitrary (the packager anchors each session to the wall clock), but
	// they share one origin across the tracks of a session and DTS does not
	// decrease within a track.
	DTS, PTS int64
	// Key marks a random access point (an IDR picture, an AV1 key frame).
	// Audio frames are always key.
	Key bool
	// Data is the sample in its CMAF form: H.264/H.265 as 4-byte
	// length-prefixed NAL units (no parameter sets needed), AV1 as OBUs
	// without temporal delimiters, AAC as a raw frame (no ADTS header), Opus
	// as one packet. The packager keeps Data: an adapter must not reuse it.
	Data []byte
}

// ProtocolRTSPPull is the PublishInfo.Protocol of a camera liveorigin pulls
// (rtsp-pull): a source the operator configured, not a remote publisher
// (the per-address publisher limit exempts it).
const ProtocolRTSPPull = "rtsp-pull"

// PublishInfo identifies a publisher asking to publish a stream.
type PublishInfo struct {
	Name       string // validated stream name, e.g. "demo" (see ValidateName)
	Protocol   string // "rtmp", "srt", "rtsp", or ProtocolRTSPPull
	RemoteAddr string // the publisher's address, for the API and logs
	// Query holds the publisher's parameters: RTMP's `NAME?key=...` (or
	// the app's query), an RTSP URL's query. It is for publish auth (the
	// publish webhook) and is a secret: never log it.
	Query url.Values
	// SessionID, when set, is the publish session's id (a wrapper such as
	// the webhooks made it before Publish, to name the session to its
	// hooks); the packager makes one otherwise.
	SessionID string
	// Credentials are what the publisher sent through the protocol's own
	// authentication (RTSP basic or digest); nil when it sent none. A
	// secret: never log them.
	Credentials Credentials
	// CanChallenge says the protocol can ask a publisher that sent no
	// credentials for them (RTSP: 401 with WWW-Authenticate) and let it
	// try again on the same connection.
	CanChallenge bool
}

// Credentials are a publisher's answer to the protocol's authentication
// challenge.
type Credentials interface {
	// Password is the password when it was sent in clear (RTSP basic);
	// ok is false for a digest answer, which only proves knowledge.
	Password() (password string, ok bool)
	// Match reports whether the credentials were made with secret as the
	// password (any user name): the basic password is secret, or the
	// digest response was computed from it.
	Match(secret string) bool
}

// ChallengeError is a refusal that asks for credentials: the publisher
// sent none and PublishInfo.CanChallenge was set. Digest says whether a
// digest answer can be checked (the server knows the secret, e.g. a
// stream key); otherwise only basic is offered (a token must be sent in
// clear). It matches ErrRefused for adapters that cannot challenge.
type ChallengeError struct{ Digest bool }

func (e *ChallengeError) Error() string {
	return "publish refused: credentials required"
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *ChallengeError) Is(target error) bool { return target == ErrRefused }

// Publisher accepts publishers. The packager's Registry implements it.
type Publisher interface {
	// Publish claims the stream name for one publisher. It fails with an
	// error wrapping ErrAlreadyPublishing when the name has a live publisher,
	// ErrBadName for an invalid name and ErrClosed when the server is
	// shutting down. The session ends when ctx ends or Close is called.
	Publish(ctx context.Context, info PublishInfo) (Session, error)
}

// Session is one publisher's connection to a stream. Its methods are called
// from one goroutine (the adapter's connection loop).
type Session interface {
	// Start declares the tracks once their codec configuration is known.
	// Calling it again with a changed configuration (a new SPS, a new
	// AudioSpecificConfig) starts a new period: a new init segment and a
	// discontinuity. The number and kinds of tracks cannot change.
	Start(tracks []Track) error
	// WriteAU hands one access unit to the packager. An error ends the
	// session: the adapter closes the connection and logs the error.
	WriteAU(au AccessUnit) error
	// Close ends the session. err is nil for a clean unpublish and the cause
	// otherwise; either way the stream stays alive for the reconnect grace
	// period so that a returning publisher continues it.
	Close(err error)
}

var (
	// ErrAlreadyPublishing: a second publisher for a live stream name.
	ErrAlreadyPublishing = errors.New("stream is already being published")
	// ErrBadName: a stream name outside the allowed character set or length.
	ErrBadName = errors.New("invalid stream name")
	// ErrClosed: the server is shutting down or the session has ended.
	ErrClosed = errors.New("server is shutting down")
	// ErrRefused: the publisher may not publish this stream (it was taken
	// down, or it failed authentication). Adapters answer with the
	// protocol's "forbidden".
	ErrRefused = errors.New("publish refused")
	// ErrUnsupportedCodec: a codec or codec configuration we cannot package.
	ErrUnsupportedCodec = errors.New("unsupported codec")
	// ErrBadTracks: a Start call with tracks that are invalid or differ in
	// number or kind from the session's first Start.
	ErrBadTracks = errors.New("invalid track set")
)

// App is the application path element of every ingest and playback URL:
// rtmp://HOST/live/NAME, http://HOST:8080/live/NAME/index.m3u8.
const App = "live"

// MaxNameLen is the longest stream name accepted.
const MaxNameLen = 64

// ValidateName checks a stream name: 1 to MaxNameLen characters from
// [A-Za-z0-9_-.], not starting with a dot. Names become URL path elements and
// Prometheus label values, so the set is deliberately small.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty (use a name such as \"demo\")", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d characters, at most %d allowed", ErrBadName, len(name), MaxNameLen)
	}
	if name[0] == '.' {
		return fmt.Errorf("%w: %q starts with a dot", ErrBadName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("%w: %q has character %q; allowed are letters, digits, '_', '-' and '.'", ErrBadName, name, c)
		}
	}
	return nil
}

// RemoteHost is a PublishInfo.RemoteAddr without its port: the unit of the
// per-address limits (the auth slow-down, publishers per address).
func RemoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
