#!/usr/bin/env bash
# Installs the Debian packages Ferry's tests and demo use, when they are missing:
#   tar (packs are checked with the real tool), sox + espeak-ng (realistic 8 kHz call audio),
#   chromium (the web page is tested in a real browser),
#   mariadb-server (a real MySQL-family server: binlog segments and the point-in-time restore round trip).
# Idempotent and quick when everything is present. Needs root (or sudo) and apt.
set -euo pipefail
declare -A cmd_of=([tar]=tar [sox]=sox [espeak-ng]=espeak-ng [chromium]=chromium [mariadb-server]=mariadbd)
missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/local/sbin/$1" ]; } # mariadbd lives in sbin
for pkg in "${!cmd_of[@]}"; do
  have "${cmd_of[$pkg]}" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "setup-system: installing ${missing[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: apt-get not found; install these packages by hand: ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup-system: not root and no sudo; install by hand: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
