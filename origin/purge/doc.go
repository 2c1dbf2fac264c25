// Package purge tells CDNs to forget a stream's objects: a bounded queue with
// retries in front of pluggable backends (generic HTTP PURGE/BAN/POST,
// Varnish, Fastly, Cloudflare, Akamai Fast Purge v3, CloudFront).
//
// The origin tags every response of stream NAME with the surrogate key
// StreamKey(NAME) ("stream-NAME") and its playlists and MPDs also with
// ManifestKey(NAME) ("manifests-NAME"), in Surrogate-Key, Cache-Tag and
// Edge-Cache-Tag. A purge names a stream and a Scope; each backend turns it
// into what its CDN understands: keys where the CDN has them, URL prefixes or
// wildcards where it does not.
//
//	backends, errs := purge.New(cfg.Purge, os.Getenv, os.ReadFile) // the `purge:` list of the config file
//	if len(errs) > 0 { ... }                                        // one error per problem, each starting with the backend's name
//	q, err := purge.NewQueue(backends, purge.Options{Logger: log, Registerer: reg})
//	q.Enqueue(purge.Request{Stream: "cam1", Scope: purge.ScopeManifests, Reason: purge.ReasonStreamEnd})
//	...
//	err = q.Close(shutdownCtx) // drains until the deadline, then counts the rest as dropped
//
// What each trigger purges: a stream that ended, its manifests (a CDN must not
// keep serving a live playlist that no longer moves); a takedown, the whole
// stream; a publisher that returns after its window was dropped, the
// manifests; a manual purge, the given paths or a scope. Segments, parts and
// init segments never need a purge for correctness: their URLs are never
// reused (DESIGN decision 3).
//
// Enqueue never blocks: the ingest path calls it. Each backend has its own
// queue of Options.Size requests and its own worker, so a dead CDN delays
// no other; when a queue is full the oldest request is dropped and counted.
// A failed attempt is retried with exponential backoff and jitter up to
// Options.MaxAttempts; a 4xx other than 408 and 429 (or an error marked
// Permanent) is not. Every request that ends is one log line and one count
// in liveorigin_purge_requests_total{backend,result}.
//
// Secrets (API tokens, EdgeGrid credentials, header values from ${ENV})
// come from the environment or files named in the config, never from the
// config itself, and are replaced by [REDACTED] in every error and log
// line, even when a CDN repeats them in its answer.
//
// docs/purge.md is the user's reference: each backend's YAML, the Varnish
// VCL contract, the metrics.
package purge
