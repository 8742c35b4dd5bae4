#!/usr/bin/env bash
# CI: the programs of tests/slurm_cluster.py's one-node SLURM cluster (Debian 12's packages; versions in
# docs_readme_slurm.md). Installs only: the test starts and stops the daemons itself, each with its config, key and
# state in a temporary folder, so none of the packages' own services is started or configured here.
set -euo pipefail
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends slurm-wlm slurmdbd munge mariadb-server mariadb-client
