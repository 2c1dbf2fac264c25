#!/usr/bin/env bash
# Installs what the tests need and the machine lacks, with apt-get when root;
# otherwise says exactly what to install. Safe to run again: it only checks
# when everything is there.
set -euo pipefail

need=()
command -v go >/dev/null || { echo "deps: Go is missing: install Go 1.26 (https://go.dev/doc/install)" >&2; exit 1; }
command -v ffmpeg  >/dev/null || need+=(ffmpeg)
command -v ffprobe >/dev/null || need+=(ffmpeg)
command -v promtool >/dev/null || need+=(prometheus)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${need[*]}" >&2
	echo "deps: install them with: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
	exit 1
fi
echo "deps: installing ${need[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# --no-install-recommends keeps the install small; policy-rc.d stops the
# prometheus package from starting a server of its own.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d.liveorigin
chmod +x /usr/sbin/policy-rc.d.liveorigin
if [ ! -e /usr/sbin/policy-rc.d ]; then cp /usr/sbin/policy-rc.d.liveorigin /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
rm -f /usr/sbin/policy-rc.d.liveorigin
apt-get install -y -qq --no-install-recommends "${need[@]}"
