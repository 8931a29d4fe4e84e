#!/usr/bin/env bash
# Starts an S3 server for the tests: moto 5.2.5 (PyPI), served one request at
# a time so that its conditional puts are atomic (stock moto_server is
# threaded and lets two If-None-Match creates both win now and then).
# Creates the `silt` bucket and prints `export` lines.
# Usage: eval "$(scripts/moto.sh start)"   |   scripts/moto.sh stop
set -euo pipefail
EMU="${SILT_EMULATORS:-$HOME/.cache/silt-emulators}"
PORT="${SILT_MOTO_PORT:-5010}"
case "${1:-start}" in
  start)
    if [ ! -x "$EMU/moto/bin/python" ] || ! "$EMU/moto/bin/python" -c 'import moto, flask_cors' 2>/dev/null; then
      python3 -m venv "$EMU/moto"
      "$EMU/moto/bin/pip" install --quiet --disable-pip-version-check 'moto[s3]==5.2.5' flask flask-cors >&2
    fi
    cat > "$EMU/moto_serial.py" <<'PY'
import os, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
port = int(sys.argv[1])
os.environ.setdefault("MOTO_PORT", str(port))
# threaded=False: one request at a time, so check-then-store is atomic.
run_simple("127.0.0.1", port, DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)
PY
    "$EMU/moto/bin/python" "$EMU/moto_serial.py" "$PORT" >/dev/null 2>&1 &
    echo $! > "$EMU/moto.pid"
    ep="http://127.0.0.1:${PORT}"
    for _ in $(seq 1 60); do
      [ "$(curl -s -o /dev/null -w '%{http_code}' "${ep}/moto-api/")" = "200" ] && break
      sleep 0.5
    done
    curl -s -o /dev/null -X PUT "${ep}/silt"
    echo "export SILT_S3_URL=${ep}"
    ;;
  stop)
    [ -f "$EMU/moto.pid" ] && kill "$(cat "$EMU/moto.pid")" 2>/dev/null || true
    rm -f "$EMU/moto.pid"
    ;;
esac
