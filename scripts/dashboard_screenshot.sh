#!/usr/bin/env bash
# A screenshot of optuna-dashboard showing a small study run by sweep.py (docs/figures/
# optuna_dashboard.png, shown in the README):
#   scripts/dashboard_screenshot.sh                                # runs the study (minutes on CPU)
#   scripts/dashboard_screenshot.sh sqlite:///logs/optuna.db       # or shows one already run
#   OUT=/tmp/dashboard.png scripts/dashboard_screenshot.sh ...      # elsewhere
# Needs Chromium (Debian: apt-get install chromium) and optuna-dashboard (the optuna extra). The
# dashboard listens on 127.0.0.1 only, on a free port, and is stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-docs/figures/optuna_dashboard.png}
source scripts/screenshot.sh  # screenshot <png> <url> <width,height>

work=$(mktemp -d)
trap 'kill "${dashboard_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
storage=${1:-}
if [[ -z $storage ]]; then
    storage=sqlite:///$work/optuna.db
    OMP_NUM_THREADS=1 python sweep.py hparams_search=optuna data=synthetic \
        data.num_samples=512 data.val_samples=128 data.max_len=30 model.embed_dim=16 \
        model.hidden_size=16 trainer=cpu trainer.max_epochs=4 test=false \
        callbacks.figures.num_texts=0 search.n_trials=10 search.pruner.n_startup_trials=3 \
        "search.storage=$storage" "paths.log_dir=$work/logs" > "$work/sweep.log" 2>&1 ||
        { tail -20 "$work/sweep.log" >&2; exit 1; }
fi

port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
optuna-dashboard "$storage" --host 127.0.0.1 --port "$port" > "$work/dashboard.log" 2>&1 &
dashboard_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 60); do  # until the dashboard answers with the study
    if curl -sf "$url/api/studies" | grep -q study_name; then
        break
    fi
    sleep 1
done
study_id=$(curl -sf "$url/api/studies" | python -c "import json, sys; print(json.load(sys.stdin)['study_summaries'][0]['study_id'])")

mkdir -p "$(dirname "$out")"
screenshot "$out" "$url/dashboard/studies/$study_id" 1600,1000 --virtual-time-budget=20000 \
    > "$work/chromium.log" 2>&1
echo "wrote $out"
