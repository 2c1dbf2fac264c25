package main

import (
	"fmt"
	"time"

	"github.com/liveorigin/liveorigin/limits"
	"github.com/liveorigin/liveorigin/observe"
)

// validateLimits checks the limit options (docs/security.md, Limits).
func (c Config) validateLimits() []error {
	var errs []error
	for _, n := range []struct {
		name string
		v    int
	}{
		{"max-publishers-per-address", c.MaxPublishersPerAddress}, {"max-ingest-bitrate", c.MaxIngestBitrate},
		{"max-http-connections", c.MaxHTTPConnections}, {"manifest-rate-limit", c.ManifestRateLimit},
	} {
		if n.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %d is negative (0 turns the limit off)", n.name, n.v))
		}
	}
	if c.MaxSegmentSize < 64<<10 {
		errs = append(errs, fmt.Errorf("max-segment-size: %d is below 65536 bytes", c.MaxSegmentSize))
	}
	if c.HTTPMaxHeaderBytes < 1<<10 {
		errs = append(errs, fmt.Errorf("http-max-header-bytes: %d is below 1024 bytes", c.HTTPMaxHeaderBytes))
	}
	if c.IngestBitrateWindow < time.Second || c.IngestBitrateWindow > time.Minute {
		errs = append(errs, fmt.Errorf("ingest-bitrate-window: %s is outside 1s to 1m", c.IngestBitrateWindow))
	}
	if c.ManifestRateWindow < time.Second {
		errs = append(errs, fmt.Errorf("manifest-rate-window: %s is below 1s", c.ManifestRateWindow))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"http-read-header-timeout", c.HTTPReadHeaderTimeout}, {"http-read-timeout", c.HTTPReadTimeout},
		{"http-write-timeout", c.HTTPWriteTimeout}, {"http-idle-timeout", c.HTTPIdleTimeout},
		{"rtmp-handshake-timeout", c.RTMPHandshakeTimeout}, {"rtmp-read-timeout", c.RTMPReadTimeout},
		{"srt-read-timeout", c.SRTReadTimeout}, {"rtsp-read-timeout", c.RTSPReadTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", d.name, d.v))
		}
	}
	// A request for the live edge waits up to three target durations
	// (rfc8216bis 6.2.5.2 for blocking playlist reloads; parts and growing
	// LL-DASH segments alike), then a growing segment streams for up to
	// one more: the answer must still be written.
	if c.HTTPWriteTimeout > 0 && c.HTTPWriteTimeout <= 4*c.MaxTargetDuration {
		errs = append(errs, fmt.Errorf("http-write-timeout: %s must be more than 4 x max-target-duration (%s): a request for the live edge may take that long",
			c.HTTPWriteTimeout, 4*c.MaxTargetDuration))
	}
	if c.ClientIPHeader != "" && !observe.ValidHeaderName(c.ClientIPHeader) {
		errs = append(errs, fmt.Errorf("client-ip-header: %q is not a header name", c.ClientIPHeader))
	}
	return errs
}

// publisherLimits are the ingest limits of c.
func (c Config) publisherLimits() limits.PublisherLimits {
	return limits.PublisherLimits{
		MaxPerAddress: c.MaxPublishersPerAddress,
		MaxBitrate:    int64(c.MaxIngestBitrate) * 1000,
		BitrateWindow: c.IngestBitrateWindow,
	}
}

// rateLimits are the manifest rate limits of c.
func (c Config) rateLimits() limits.RateLimits {
	return limits.RateLimits{Requests: c.ManifestRateLimit, Window: c.ManifestRateWindow, ClientHeader: c.ClientIPHeader}
}
