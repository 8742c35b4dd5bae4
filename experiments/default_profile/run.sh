#!/usr/bin/env bash
# One experiment of the default-profile search: the sample profile with a config file over it, run through
# the real workflow in a fresh copy of the project, up to Table 5. Usage (from the repository root, with the
# data mirror): experiments/default_profile/run.sh experiments/default_profile/<config>.yaml OUT_DIR
# Writes OUT_DIR/project (the run), OUT_DIR/time.log (wall time per job and in all) and prints Table 5.
set -euo pipefail
config=$(realpath "$1")
source "$(dirname "$0")/../project_copy.sh" "$2"
/usr/bin/time -f "wall %e s" snakemake table5 --cores 2 --configfile "$config" > "$out/snakemake.log" 2>&1
tail -1 "$out/snakemake.log" > "$out/time.log"
cat results/tables/table5.md
