#!/usr/bin/env bash
# Runs every go fuzz target in the module for FUZZTIME (default 30s) each.
set -euo pipefail
fuzztime=${FUZZTIME:-30s}
for pkg in $(go list ./...); do
	for fn in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		echo "== $pkg $fn ($fuzztime)"
		go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$fuzztime" "$pkg"
	done
done
