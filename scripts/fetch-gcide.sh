#!/usr/bin/env bash
# Builds a token dataset from GCIDE (GNU Collaborative International
# Dictionary of English, GPL) via the Debian package dict-gcide.
#   scripts/fetch-gcide.sh [OUT_DIR] [moe-prep flags...]
# Writes OUT_DIR/gcide.txt (the plain dictionary text) and OUT_DIR/gcide.h5
# (OUT_DIR defaults to build/gcide, which git ignores). MOE_PREP overrides the moe-prep binary
# (default: build/launch/moe-prep). Needs root or sudo for apt-get.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/build/gcide}"
shift || true
prep="${MOE_PREP:-$root/build/launch/moe-prep}"
dict=/usr/share/dictd/gcide.dict.dz

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ! -f "$dict" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  policy="$(apt-cache policy dict-gcide)"  # not piped into grep -q: pipefail + SIGPIPE
  if ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
    echo "fetch-gcide: the package dict-gcide is not available from the configured apt sources" >&2
    exit 1
  fi
  # --no-install-recommends: the dictd server is not needed, only its data.
  $sudo apt-get install -y -q --no-install-recommends dict-gcide
fi
[ -x "$prep" ] || { echo "fetch-gcide: $prep not built (cmake --build build --target moe-prep)" >&2; exit 1; }

mkdir -p "$out"
# .dict.dz is dictzip, a gzip-compatible format.
zcat "$dict" > "$out/gcide.txt"
"$prep" --input "$out/gcide.txt" --output "$out/gcide.h5" "$@"
