#!/usr/bin/env bash
# A screenshot of TensorBoard's HPARAMS table for a small pooling sweep, as a browser shows it
# without a click (docs/figures/hparams.png, shown in the README):
#   scripts/hparams_screenshot.sh                           # runs the sweep (about a minute on CPU)
#   scripts/hparams_screenshot.sh logs/multiruns/<time>     # or takes one already run
#   OUT=/tmp/hparams.png scripts/hparams_screenshot.sh ...  # elsewhere
# Needs Chromium (Debian: apt-get install chromium). TensorBoard listens on 127.0.0.1 only, on a
# free port, and is stopped when the script ends.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-docs/figures/hparams.png}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
    echo "Chromium not found: install it (Debian: apt-get install chromium)." >&2
    exit 1
fi

work=$(mktemp -d)
trap 'kill "${tensorboard_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
sweep=${1:-}
if [[ -z $sweep ]]; then
    sweep=$work/sweep
    python train.py -m data=synthetic model/pooling=last,max,attn trainer.max_epochs=2 \
        data.num_samples=512 data.val_samples=128 data.test_samples=128 data.max_len=30 \
        model.encoder.embed_dim=16 model.encoder.hidden_size=16 trainer=cpu \
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

mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/profile" --hide-scrollbars --window-size=1900,330 \
    --virtual-time-budget=20000 --screenshot="$out" "$url/#hparams" > "$work/chromium.log" 2>&1
echo "wrote $out"
