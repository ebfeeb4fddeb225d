#!/bin/sh
# Regenerates the fixture logs of the verifier tests with citylog itself:
#   log/       a citylog log of 600 real cities; log/checkpoint.300 is the
#              checkpoint it had at size 300; vkey is its verifier key
#   fork/      checkpoint of a fork: the same key, different entries after 300
#   receipt/   a receipt for leaf 7 at size 300
set -eu
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
citylog="go run $root/cmd/citylog"
rm -rf log fork receipt
$citylog init --dir "$tmp/reg" --origin fixture.citylog.example/log > vkey
head -n 300 "$root/testdata/cities.jsonl" > "$tmp/a.jsonl"
$citylog import --dir "$tmp/reg" --receipts "$tmp/receipts" "$tmp/a.jsonl" > /dev/null
cp -r "$tmp/reg" "$tmp/forked"
cp "$tmp/reg/public/checkpoint" "$tmp/checkpoint.300"
sed -n '301,600p' "$root/testdata/cities.jsonl" > "$tmp/b.jsonl"
sed -n '601,900p' "$root/testdata/cities.jsonl" > "$tmp/c.jsonl"
$citylog import --dir "$tmp/reg" "$tmp/b.jsonl" > /dev/null
$citylog import --dir "$tmp/forked" "$tmp/c.jsonl" > /dev/null
mkdir -p log fork receipt
cp -r "$tmp/reg/public/." log/
cp "$tmp/checkpoint.300" log/checkpoint.300
cp "$tmp/forked/public/checkpoint" "$tmp/forked/public/checkpoint.edge" fork/
code=$(ls "$tmp/receipts" | head -n 1)
cp "$tmp/receipts/$code" receipt/receipt.tlog-proof
echo "$code" | sed 's/.tlog-proof$//' > receipt/code
