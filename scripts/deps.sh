#!/usr/bin/env bash
# Installs what the tests need and the machine lacks: Debian packages with
# apt-get when root (otherwise it says exactly what to install), then the
# pinned player libraries (hls.js, dash.js, playwright-core) with npm ci.
# Safe to run again: when everything is there it only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v go >/dev/null || { echo "deps: Go is missing: install Go 1.26 (https://go.dev/doc/install)" >&2; exit 1; }

need=()
command -v ffmpeg   >/dev/null || need+=(ffmpeg)
command -v ffprobe  >/dev/null || need+=(ffmpeg)
command -v promtool >/dev/null || need+=(prometheus)
command -v srt-live-transmit >/dev/null || need+=(srt-tools)
# The caching shields of deploy/cdn/ that the CDN tests run: Varnish with
# vmod_xkey (varnish-modules), and nginx; both in /usr/sbin, which a user's
# PATH may lack.
command -v varnishd >/dev/null || [ -x /usr/sbin/varnishd ] || need+=(varnish)
compgen -G '/usr/lib/*/varnish/vmods/libvmod_xkey.so' >/dev/null || need+=(varnish-modules)
command -v nginx    >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# Optional: libsrt, so that the SRT tests also run with -tags libsrt (the
# default build needs no C library). Installed when root; without it make test
# runs the SRT tests on the pure-Go transport only.
optional=()
command -v pkg-config >/dev/null || optional+=(pkg-config)
pkg-config --exists srt 2>/dev/null || optional+=(libsrt-openssl-dev)
if [ "$(id -u)" -eq 0 ]; then
	need+=(${optional[@]+"${optional[@]}"})
elif [ ${#optional[@]} -gt 0 ]; then
	echo "deps: optional, for the SRT tests with libsrt: sudo apt-get install -y ${optional[*]}" >&2
fi
command -v chromium >/dev/null || need+=(chromium)
command -v node     >/dev/null || need+=(nodejs)
command -v npm      >/dev/null || need+=(npm)

if [ ${#need[@]} -gt 0 ]; then
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${need[*]}" >&2
		echo "deps: install them with: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
		exit 1
	fi
	echo "deps: installing ${need[*]} with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	# Keep package scripts from starting services (the prometheus, varnish
	# and nginx packages would start servers of their own).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The real players, pinned by test/players/package-lock.json.
if [ ! -d test/players/node_modules/playwright-core ] || [ test/players/package-lock.json -nt test/players/node_modules ]; then
	echo "deps: installing the player libraries (npm ci in test/players)"
	(cd test/players && npm ci --no-audit --no-fund --loglevel=error)
	touch test/players/node_modules
fi
