// Package limits enforces liveorigin's resource maxima and counts every
// time one is hit (liveorigin_limit_hits_total{limit}), with a log line
// naming the stream or the remote address (never a secret).
//
// Ingest limits wrap an ingest.Publisher, like auth does:
//
//	hits := limits.NewHits(log, reg)
//	pub := limits.NewPublisher(next, hits, limits.PublisherLimits{
//		MaxPerAddress: 10,                // publishers at once from one IP address
//		MaxBitrate:    50_000_000,        // bit/s of media per stream...
//		BitrateWindow: 5 * time.Second,   // ...averaged over this sliding window
//	})
//
// The bitrate is measured on the access units a session hands to the
// packager (ingest.AccessUnit.Data): the same codec-neutral bytes for RTMP,
// SRT and RTSP, without the protocols' framing, retransmissions or padding
// (an MPEG-TS stream's null packets do not count). A session whose average
// over the window exceeds the limit gets an error wrapping ErrExceeded from
// WriteAU, which ends it: the adapter closes the connection.
//
// The packager's own limits (max-streams, max-segment-size) are enforced
// by the packager; the wrapper sees their errors go by and counts them.
//
// HTTP limits: Listener caps the concurrent connections of a listener (the
// excess is answered 503 and closed) and counts the connections that
// net/http cuts off (a request header over MaxHeaderBytes: 431; a request
// not read within the read timeouts: a slowloris client; a response not
// written within WriteTimeout). ManifestRate limits playlist and MPD
// requests per client address (429 with Retry-After, never cached).
// Under TLS (http.Server.ServeTLS over a Listener) the connection maximum
// and the timeouts work alike, a refused connection is closed without an
// answer, and a 431 is answered but not counted (the Listener sees the
// encrypted bytes).
//
// Every limit but the timeouts and the header size can change on a reload
// (SetLimits, SetMax, Set): running sessions and connections are judged by
// the new values from then on.
package limits
