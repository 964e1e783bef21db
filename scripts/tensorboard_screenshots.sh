#!/usr/bin/env bash
# Screenshots of TensorBoard for a small pooling sweep, as a 1366-px browser shows it without a
# click (docs/figures/tensorboard_{hparams,scalars,images}.png; the README shows the first):
#   scripts/tensorboard_screenshots.sh                         # runs the sweep (a few minutes on CPU)
#   scripts/tensorboard_screenshots.sh logs/multiruns/<time>   # or takes one already run
#   OUT=/tmp/shots scripts/tensorboard_screenshots.sh ...      # elsewhere
# Scalars are opened with ?smoothing=0 (the link the README gives). Needs Chromium (Debian:
# apt-get install chromium). TensorBoard listens on 127.0.0.1 only, on a free port, and is
# stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-docs/figures}
source scripts/screenshot.sh  # screenshot <png> <url> <width,height>

work=$(mktemp -d)
trap 'kill "${tensorboard_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
sweep=${1:-}
if [[ -z $sweep ]]; then
    sweep=$work/sweep
    python train.py -m data=synthetic model.pooling=max,attn model.bidirectional=true,false \
        trainer.max_epochs=3 ~callbacks.early_stopping \
        data.num_samples=512 data.val_samples=128 data.test_samples=128 data.max_len=30 \
        model.embed_dim=16 model.hidden_size=16 trainer=cpu \
        "hydra.sweep.dir=$sweep" > "$work/sweep.log" 2>&1 ||
        { tail -20 "$work/sweep.log" >&2; exit 1; }
fi

port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
tensorboard --logdir "$sweep" --host 127.0.0.1 --port "$port" > "$work/tensorboard.log" 2>&1 &
tensorboard_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 60); do  # until TensorBoard answers with the sweep's hyperparameters
    if curl -sf -X POST -d '{"experimentName": ""}' "$url/data/plugin/hparams/experiment" |
        grep -q hparamInfos; then
        break
    fi
    sleep 1
done

mkdir -p "$out"
shoot() {  # shoot NAME HEIGHT URL-PATH
    screenshot "$out/tensorboard_$1.png" "$url/$3" "1366,$2" --virtual-time-budget=15000 \
        > "$work/chromium-$1.log" 2>&1
    echo "wrote $out/tensorboard_$1.png"
}
shoot hparams 420 "#hparams"
shoot scalars 900 "?smoothing=0&tagFilter=%5Eval%2F#timeseries"
shoot images 900 "?tagFilter=integrated_gradients%7Cattention#timeseries"
