vcl 4.1;

# liveorigin behind Varnish: a caching shield in front of the origin
# (Varnish 7.1, Debian 12: apt-get install varnish varnish-modules).
# docs/cdn.md explains every choice; cmd/liveorigin/e2e_cdn_test.go runs it.
#
#   - TTLs come from the origin: CDN-Cache-Control (RFC 9213), else
#     Surrogate-Control, else Cache-Control. stale-while-revalidate becomes
#     grace: a live playlist is refetched in the background, one fetch for
#     every viewer.
#   - Identical requests collapse onto one origin fetch (Varnish's waiting
#     list), also LL-HLS blocking reloads (_HLS_msn/_HLS_part: their query is
#     part of the cache key) and growing LL-DASH segments, which are streamed
#     to every waiting viewer as they grow.
#   - The origin's surrogate keys tag every object (vmod_xkey), so liveorigin's
#     purge backend (type varnish) forgets a stream or its manifests at once:
#       PURGE /  xkey-purge: KEY1 KEY2   -> xkey.purge(), 200 with X-Purged: N
#       PURGE /live/NAME/v0.m3u8         -> that URL
#       BAN /    X-Ban-Prefix: /live/NAME/      -> every object under it
#       BAN /    X-Ban-Manifests: /live/NAME/   -> its .m3u8 and .mpd only
#     from the purgers ACL only.
#   - The origin secret (liveorigin origin-secret) is read from the environment
#     of varnishd: LIVEORIGIN_ORIGIN_SECRET. The same value as liveorigin's own
#     variable works: with two comma-separated secrets (a rotation), Varnish
#     sends the last one. Unset or empty: no header.
#   - X-Cache (HIT, HIT-STALE, MISS, PASS, SYNTH) and X-Cache-Hits tell how an
#     answer was made; the headers only CDNs read are removed before viewers
#     see them.

import std;
import xkey;

# The origin: liveorigin's http-addr. The tests write their own copy of this
# file with other ports.
backend liveorigin {
	.host = "127.0.0.1";
	.port = "8080";
	.connect_timeout = 2s;
	# A blocking playlist reload or a preload-hinted part is held by the
	# origin until it exists, up to three target durations (then 503):
	# with the default 2 s segment target, 6 s. Keep this above
	# 3 x EXT-X-TARGETDURATION + 1s if you raise segment-target.
	.first_byte_timeout = 10s;
	# A growing LL-DASH segment sends one chunk per part (1/3 s by default).
	.between_bytes_timeout = 10s;
}

# Who may PURGE and BAN: the host liveorigin runs on. Add its address if it
# runs on another machine.
acl purgers {
	"127.0.0.1";
	"::1";
}

sub vcl_recv {
	unset req.http.X-Purged;
	if (req.method == "PURGE" || req.method == "BAN") {
		if (client.ip !~ purgers) {
			return (synth(403, "Forbidden"));
		}
		if (req.method == "BAN") {
			call liveorigin_ban;
		}
		if (req.http.xkey-purge) {
			set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
			return (synth(200, "Purged"));
		}
		# One URL: hashed as a GET of it is (vcl_hash), so the Host
		# header does not matter.
		call liveorigin_normalize;
		return (purge);
	}
	# Viewers never choose the secret the origin sees.
	unset req.http.X-Origin-Secret;
	if (req.method == "OPTIONS") {
		# CORS preflight: the origin answers it.
		return (pass);
	}
	if (req.method != "GET" && req.method != "HEAD") {
		return (synth(405, "Method Not Allowed"));
	}
	# Playback is public and the same for every viewer: a cookie or an
	# Authorization header changes nothing at the origin, so it does not
	# keep an answer out of the cache.
	unset req.http.Cookie;
	unset req.http.Authorization;
	if (req.url ~ "^/time(\?|$)") {
		# The DASH UTCTiming clock: never stored.
		return (pass);
	}
	call liveorigin_normalize;
	return (hash);
}

# The cache key is the URL. A playlist keeps its query (_HLS_msn, _HLS_part
# and _HLS_skip select different documents; sorted, so one order is one
# object); segments, parts, init segments and the MPD do not depend on a
# query, so it is dropped and cannot split their cache.
sub liveorigin_normalize {
	if (req.url ~ "^[^?]*\.m3u8(\?|$)") {
		set req.url = std.querysort(req.url);
	} else {
		set req.url = regsub(req.url, "\?.*$", "");
	}
}

# BAN / with X-Ban-Prefix (every object whose URL starts with it) or
# X-Ban-Manifests (only the playlists and MPDs under it). The bans test
# obj.http.x-url only, so the ban lurker clears them in the background.
sub liveorigin_ban {
	if (req.http.X-Ban-Prefix) {
		set req.http.x-ban-path = req.http.X-Ban-Prefix;
	} elsif (req.http.X-Ban-Manifests) {
		set req.http.x-ban-path = req.http.X-Ban-Manifests;
	} else {
		return (synth(400, "BAN needs X-Ban-Prefix or X-Ban-Manifests"));
	}
	if (req.http.x-ban-path !~ "^/[A-Za-z0-9._~/-]*$") {
		return (synth(400, "Bad ban prefix: a URL path is expected"));
	}
	# A prefix, not a pattern: "." is the only regex character allowed.
	set req.http.x-ban-re = "^" + regsuball(req.http.x-ban-path, "\.", "\\.");
	if (req.http.X-Ban-Manifests) {
		set req.http.x-ban-re = req.http.x-ban-re + "[^?]*\.(m3u8|mpd)(\?|$)";
	}
	if (!std.ban("obj.http.x-url ~ " + req.http.x-ban-re)) {
		return (synth(400, "Ban refused: " + std.ban_error()));
	}
	return (synth(200, "Banned"));
}

sub vcl_hash {
	# The URL alone: every hostname that points at this shield shares one
	# cache, and a PURGE of a path works whatever Host it carries.
	hash_data(req.url);
	return (lookup);
}

sub vcl_hit {
	if (obj.ttl >= 0s) {
		set req.http.x-cache = "HIT";
	} else {
		# In grace: served while one background fetch refreshes it.
		set req.http.x-cache = "HIT-STALE";
	}
}

sub vcl_miss {
	set req.http.x-cache = "MISS";
}

sub vcl_pass {
	set req.http.x-cache = "PASS";
}

sub vcl_backend_fetch {
	# The origin secret: the last of the comma-separated values.
	set bereq.http.X-Origin-Secret = regsub(std.getenv("LIVEORIGIN_ORIGIN_SECRET"), "^.*,\s*", "");
	if (bereq.http.X-Origin-Secret == "") {
		unset bereq.http.X-Origin-Secret;
	}
}

sub vcl_backend_response {
	# For bans (the lurker sees only the object) and the surrogate keys
	# for vmod_xkey, which reads them from the stored xkey header.
	set beresp.http.x-url = bereq.url;
	if (beresp.http.Surrogate-Key) {
		set beresp.http.xkey = beresp.http.Surrogate-Key;
	}

	# The CDN's directives: CDN-Cache-Control (RFC 9213) first, then
	# Surrogate-Control; without them Varnish has already read
	# Cache-Control (and Expires) into beresp.ttl.
	if (beresp.http.CDN-Cache-Control) {
		set beresp.http.x-cdn-cc = beresp.http.CDN-Cache-Control;
	} elsif (beresp.http.Surrogate-Control) {
		set beresp.http.x-cdn-cc = beresp.http.Surrogate-Control;
	} else {
		set beresp.http.x-cdn-cc = beresp.http.Cache-Control;
	}
	if (beresp.http.Set-Cookie ||
	    beresp.http.x-cdn-cc ~ "(?i)(^|[,\s])(no-store|no-cache|private)\s*(,|$)") {
		# Not stored (the origin's 400, 403 and 503 answers). A short
		# hit-for-miss: the next request goes to the origin again, and
		# one that becomes cacheable collapses again a second later.
		set beresp.ttl = 1s;
		set beresp.grace = 0s;
		set beresp.uncacheable = true;
		unset beresp.http.x-cdn-cc;
		return (deliver);
	}
	if (beresp.http.x-cdn-cc ~ "(?i)(^|[,\s])max-age=[0-9]+") {
		set beresp.ttl = std.duration(regsub(beresp.http.x-cdn-cc,
		    "(?i)^(.*[,\s])?max-age=([0-9]+).*$", "\2") + "s", 0s);
	}
	# Grace only where the origin allows it (stale-while-revalidate on a
	# live playlist): an ended playlist, a 404 or a 410 is never served
	# stale.
	set beresp.grace = 0s;
	if (beresp.http.x-cdn-cc ~ "(?i)(^|[,\s])stale-while-revalidate=[0-9]+") {
		set beresp.grace = std.duration(regsub(beresp.http.x-cdn-cc,
		    "(?i)^(.*[,\s])?stale-while-revalidate=([0-9]+).*$", "\2") + "s", 0s);
	}
	unset beresp.http.x-cdn-cc;
	# Segments, parts and init segments are immutable for a year at the
	# origin; the shield keeps them an hour at most (a live window is far
	# shorter), which bounds the memory dead streams hold.
	if (beresp.ttl > 1h) {
		set beresp.ttl = 1h;
	}
	# Growing LL-DASH segments and parts go to every viewer as they arrive
	# (the default in Varnish 7, said here because it matters).
	set beresp.do_stream = true;
	return (deliver);
}

sub vcl_backend_error {
	# The origin is unreachable or too slow: every waiting viewer gets this
	# answer, and so does every viewer for a second, which spares an origin
	# that is in trouble.
	set beresp.ttl = 1s;
	set beresp.grace = 0s;
	set beresp.http.Content-Type = "text/plain; charset=utf-8";
	set beresp.http.Cache-Control = "no-store";
	set beresp.http.Retry-After = "1";
	set beresp.body = "" + beresp.status + " " + beresp.reason + {"
"};
	return (deliver);
}

sub vcl_deliver {
	set resp.http.X-Cache = req.http.x-cache;
	set resp.http.X-Cache-Hits = obj.hits;
	# What only CDNs and this VCL read.
	unset resp.http.x-url;
	unset resp.http.xkey;
	unset resp.http.Surrogate-Key;
	unset resp.http.Surrogate-Control;
	unset resp.http.CDN-Cache-Control;
	unset resp.http.Cache-Tag;
	unset resp.http.Edge-Cache-Tag;
	return (deliver);
}

sub vcl_synth {
	set resp.http.X-Cache = "SYNTH";
	set resp.http.Cache-Control = "no-store";
	set resp.http.Content-Type = "text/plain; charset=utf-8";
	if (req.http.X-Purged) {
		set resp.http.X-Purged = req.http.X-Purged;
	}
	set resp.body = "" + resp.status + " " + resp.reason + {"
"};
	return (deliver);
}
