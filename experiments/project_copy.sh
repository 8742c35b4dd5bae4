# Sourced by the experiments' run.sh with OUT_DIR as its argument: copies the working tree's tracked files
# into OUT_DIR/project, moves there, and points the venv, the data mirror and MLflow's store at that copy, so
# that an experiment reruns from nothing and never writes into the working tree. Sets $root and $out.
root=$(pwd)
out=$(realpath -m "$1")
mkdir -p "$out/project"
git ls-files -z | xargs -0 -I{} cp --parents {} "$out/project/"
cd "$out/project"
export PATH="$root/.venv/bin:$PATH" PYTHONPATH="$out/project" MLFLOW_DISABLE_TELEMETRY=true
export GPT1_DATA_MIRROR="${GPT1_DATA_MIRROR:-$root/../shared/data}" MLFLOW_TRACKING_URI="sqlite:///$out/project/mlflow.db"
