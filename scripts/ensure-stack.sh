#!/usr/bin/env bash
# Makes sure the real stack the integration tests and the demo use is installed: dockerd 20.10
# (Debian's docker.io), the CNCF registry (docker-registry), htpasswd (apache2-utils, for the
# password-protected registry), tmux (drives the live terminal view under a real pty), openssl
# (the token-auth registry's signing certificate, the registry client's TLS tests) and podman
# (the second engine the integration suite proves, through `podman system service`).
# As root it installs what is missing with apt; otherwise it fails and says what to install.
set -euo pipefail

missing=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v podman >/dev/null 2>&1 || missing+=(podman)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "prepull tests need: ${missing[*]}. Install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (apt-get)..." >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
