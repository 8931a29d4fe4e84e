#!/usr/bin/env bash
# Starts Azurite (the Azure Blob emulator, npm azurite@3.35.0 — newer
# releases need Node >= 21) on loopback for the tests, creates the `silt`
# container, and prints `export` lines for the environment.
# Usage: eval "$(scripts/azurite.sh start)"   |   scripts/azurite.sh stop
set -euo pipefail
EMU="${SILT_EMULATORS:-$HOME/.cache/silt-emulators}"
PORT="${SILT_AZURITE_PORT:-10010}"
ACCOUNT=devstoreaccount1
# Azurite's published development key (not a secret).
KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

create_container() { # name endpoint
  local name=$1 ep=$2 ver=2021-08-06 date sts hexkey sig code
  date=$(LC_ALL=C TZ=GMT date '+%a, %d %b %Y %H:%M:%S GMT')
  # SharedKey string-to-sign: verb, 11 empty standard headers, canonical
  # x-ms headers, canonical resource with its query parameters.
  sts="PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:${date}\nx-ms-version:${ver}\n/${ACCOUNT}/${ACCOUNT}/${name}\nrestype:container"
  hexkey=$(printf '%s' "$KEY" | base64 -d | od -An -tx1 -v | tr -d ' \n')
  sig=$(printf "$sts" | openssl dgst -sha256 -mac HMAC -macopt "hexkey:${hexkey}" -binary | base64 -w0)
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Content-Length: 0" \
    -H "x-ms-date: ${date}" -H "x-ms-version: ${ver}" \
    -H "Authorization: SharedKey ${ACCOUNT}:${sig}" "${ep}/${ACCOUNT}/${name}?restype=container")
  case $code in 201|409) ;; *) echo "creating container ${name}: HTTP ${code}" >&2; return 1;; esac
}

case "${1:-start}" in
  start)
    if [ ! -x "$EMU/node/node_modules/.bin/azurite-blob" ]; then
      mkdir -p "$EMU/node"
      (cd "$EMU/node" && npm init -y >/dev/null && npm install --no-audit --no-fund azurite@3.35.0 >&2)
    fi
    data=$(mktemp -d)
    "$EMU/node/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$PORT" \
      --location "$data" --disableTelemetry --skipApiVersionCheck --silent >/dev/null 2>&1 &
    echo $! > "$EMU/azurite.pid"
    ep="http://127.0.0.1:${PORT}"
    for _ in $(seq 1 60); do
      curl -s -o /dev/null "${ep}/${ACCOUNT}?comp=list" && break
      sleep 0.5
    done
    create_container silt "$ep"
    echo "export AZURITE_BLOB_STORAGE_URL=${ep} SILT_AZURITE_URL=${ep}"
    ;;
  stop)
    [ -f "$EMU/azurite.pid" ] && kill "$(cat "$EMU/azurite.pid")" 2>/dev/null || true
    rm -f "$EMU/azurite.pid"
    ;;
esac
