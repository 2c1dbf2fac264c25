// Package auth decides who may publish: Publisher wraps an
// ingest.Publisher (in front of the webhooks and the packager) and checks
// each publisher's stream key before the name is claimed.
//
// A KeySet is immutable; a reload builds a new one and swaps it in
// atomically (Publisher.SetKeys). The key is checked when a publisher
// starts only: a running publisher goes on after its key changes.
//
//	set, err := auth.NewKeySet(auth.ModeKeys, map[string]string{"demo": "0123456789abcdef"})
//	pub := auth.NewPublisher(registry, set, auth.Options{Logger: log, Registerer: reg})
//	// OBS: server rtmp://HOST/live, stream key demo?key=0123456789abcdef
//
// Where the key comes from is PublishInfo.Query's "key": RTMP's
// NAME?key=SECRET, SRT's Access Control stream id
// (#!::r=live/NAME,m=publish,key=SECRET), an RTSP URL's ?key=SECRET.
//
// Repeated failures from one address are slowed down (Limiter): after
// FailureBurst failures within FailureWindow, each further attempt from
// the address waits before it is answered.
package auth
