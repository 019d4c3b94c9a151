#!/usr/bin/env bash
# Runs the mADX conformance kit over real HTTP against our own server, started
# as README says: `madx serve` on the embedded SQLite store with a fresh data
# directory and the IHE example definitions. Exits non-zero on any failure.
# Tests listed in .ci/conformance.xfail are known, reported non-conformances.
#
# Usage: .ci/conformance.sh [JUNIT_FILE]   (default: $TMPDIR/madx-conformance.xml)
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
junit=${1:-$work/madx-conformance.xml}
server_pid=""
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$work/data" "$work/madx"
}
trap cleanup EXIT

go build -o "$work/madx" ./cmd/madx

# The kit's FHIRPath subset evaluator, checked against fhirpath.js (R4) when
# node is on the machine; the Go test skips without it, so require it here.
if command -v npm >/dev/null 2>&1; then
	(cd .ci/fhirpath && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
	MADX_REQUIRE_FHIRPATH=1 go test -count=1 -run TestEvaluateAgreesWithFHIRPathJS ./conformance/kit
fi

# Port 0: the kernel picks a free port; the server logs its base URL.
"$work/madx" serve --addr 127.0.0.1:0 --data-dir "$work/data" \
	--load testdata/madx/definitions 2>"$work/serve.log" >/dev/null &
server_pid=$!

base=""
for _ in $(seq 1 200); do
	base=$(sed -n 's/.*"base_url":"\([^"]*\)".*"message":"madx serving".*/\1/p' "$work/serve.log" | head -n1)
	[ -n "$base" ] && break
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "conformance: madx serve exited early:" >&2
		cat "$work/serve.log" >&2
		exit 1
	fi
	sleep 0.1
done
if [ -z "$base" ]; then
	echo "conformance: madx serve did not start within 20 s:" >&2
	cat "$work/serve.log" >&2
	exit 1
fi

xfail=()
while IFS= read -r line; do
	line=${line%%#*}
	line=$(echo "$line" | tr -d '[:space:]')
	[ -n "$line" ] && xfail+=(--expect-fail "$line")
done < .ci/conformance.xfail

status=0
"$work/madx" conformance --base "$base" --junit "$junit" --html "$work/madx-conformance.html" "${xfail[@]}" || status=$?
echo "conformance: JUnit report in $junit, HTML report in $work/madx-conformance.html"
if [ "$status" -ne 0 ]; then
	echo "conformance: FAILED (server log: $work/serve.log)" >&2
fi
exit "$status"
