#!/usr/bin/env bash
# Writes scripts/tool-locks/<tool>-<version>.Cargo.lock and its crate's SHA-256 (see the README there).
# Starts from the lock packaged in the crate; if that does not resolve against the registry, prints
# the error so that the offending package can be pinned with `cargo update -p NAME --precise V`.
set -euo pipefail
cd "$(dirname "$0")/tool-locks"
name=$1 version=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
curl -sSf -o "$tmp/$name-$version.crate" "https://static.crates.io/crates/$name/$name-$version.crate"
tar xzf "$tmp/$name-$version.crate" -C "$tmp"
if ! (cd "$tmp/$name-$version" && cargo metadata -q --locked --format-version 1 >/dev/null); then
  echo "The packaged lock does not resolve here. Pin the package named above, e.g.:" >&2
  echo "  (cd $tmp/$name-$version && cargo update -p NAME --precise VERSION)" >&2
  echo "then copy its Cargo.lock to scripts/tool-locks/$name-$version.Cargo.lock" >&2
  trap - EXIT; exit 1
fi
cp "$tmp/$name-$version/Cargo.lock" "$name-$version.Cargo.lock"
grep -v " $name-$version.crate\$" SHA256SUMS > "$tmp/sums" || true
(cd "$tmp" && sha256sum "$name-$version.crate") >> "$tmp/sums"
sort -k2 "$tmp/sums" > SHA256SUMS
echo "wrote scripts/tool-locks/$name-$version.Cargo.lock"
