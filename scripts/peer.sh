#!/usr/bin/env bash
# Prints the absolute path of the peer medallion pipeline
# (peer_pipeline.py: the IoT data generator, the polars + deltalake pipeline
# and the gold oracle): SILT_PEER_PIPELINE when set, else
# ../shared/bench/peer_pipeline.py beside this clone or beside the
# repository this clone was made from. Exits 1 if none exists.
exec "$(dirname "$0")/shared-path.sh" bench/peer_pipeline.py SILT_PEER_PIPELINE
