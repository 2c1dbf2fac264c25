// Package hooks sends liveorigin's webhooks: HTTP POSTs of a signed JSON
// event when a publisher asks to publish a stream (publish, an auth hook
// whose answer allows or refuses it), when an accepted publisher goes
// (unpublish) and when a stream ends (stream_end).
//
//	hs, errs := hooks.Build(cfg.Webhooks, os.Getenv, os.ReadFile) // the `webhooks:` list of the config file
//	if len(errs) > 0 { ... }                                       // one error per problem
//	d, err := hooks.New(hs, hooks.Options{Logger: log, Registerer: reg})
//	pub := hooks.NewPublisher(registry, d)  // what the protocol adapters publish to
//	// packager OnStreamEvent: on StreamEnded, d.StreamEnded(name)
//	...
//	d.Swap(newHooks)    // a configuration reload: the old hooks finish their queues in the background
//	err = d.Close(ctx)  // drains until the deadline, then counts the rest as dropped
//
// A publish is asked synchronously, on the publishing connection's own
// goroutine, before the name is claimed and with no lock held: a slow or
// dead hook delays that publisher only, for at most the hook's timeout. 2xx
// allows, 401 or 403 refuses (ingest.ErrRefused: each adapter answers with
// its protocol's "forbidden"), anything else follows the hook's on-error,
// refuse by default: a hook that is down must not open the ingest to anyone.
// A publish is attempted once (the publisher is waiting).
//
// unpublish and stream_end never block their caller (the packager calls
// with a stream lock held): each hook has its own bounded queue and worker;
// a failed attempt is retried with exponential backoff and jitter, a 4xx
// other than 408 and 429 is not; when a queue is full its oldest delivery
// is dropped and counted.
//
// Every request carries X-Liveorigin-Event, X-Liveorigin-Delivery (the same
// across retries), X-Liveorigin-Timestamp (Unix seconds, per attempt) and
// X-Liveorigin-Signature: "sha256=" + hex(HMAC-SHA256(secret, timestamp + "."
// + body)) (see Sign and Verify), and the W3C traceparent of the publish
// when Options.TraceParent gives one. Secrets come from the environment or a
// file, never the config; neither they, the publisher's query (its stream
// key) nor a hook URL's query appear in a log line, an error or a metric.
//
// docs/webhooks.md is the user's reference.
package hooks
