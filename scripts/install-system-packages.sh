#!/usr/bin/env bash
# The Debian packages speechbridge needs, installed when missing: what .ci/run runs on a clean
# machine and what the Dockerfile runs in its image, so CI exercises the image's install step.
#
#   scripts/install-system-packages.sh            everything: the gateway's and the tests'
#   scripts/install-system-packages.sh --runtime  the gateway's only (the container image)
#
# Runtime: ffmpeg (decodes uploads and browser audio) and pocketsphinx with its English model
# (the offline speech recognizer); whisper and espeak-ng run from npm packages. Tests add
# espeak-ng (spoken test phrases), openssl (test certificates), sox (the listen command's
# recorder and player), chromium (the demo page in a real browser), redis-server and haproxy
# (the scale-out tests start their own).
set -euo pipefail

runtime_packages=(ffmpeg pocketsphinx pocketsphinx-en-us)
test_packages=(espeak-ng openssl sox chromium redis-server haproxy)

case "${1:-}" in
  --runtime) packages=("${runtime_packages[@]}") ;;
  '') packages=("${runtime_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [--runtime]" >&2; exit 2 ;;
esac

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
