#!/usr/bin/env bash
# Prints the absolute path of the public Delta test tables: DELTA_VECTORS_DIR
# when set, else ../shared/delta-vectors beside this clone, else the same
# place beside the repository this clone was made from (a clone in a
# temporary directory still finds the shared vectors). Exits 1 if none exists.
exec "$(dirname "$0")/shared-path.sh" delta-vectors DELTA_VECTORS_DIR
