#!/usr/bin/env bash
# The comparison figure and the study report as a reader sees them (docs/figures/compare.png and
# docs/figures/report.png, shown in the README): a tiny synthetic 2×2 sweep over 3 seeds
# (optimizer.lr × data.batch_size, about 5 minutes on a 2-core CPU), `scripts/compare.py
# --report`, and a screenshot of report.html in headless Chromium.
#   scripts/make_figures.sh                          # runs the sweep
#   scripts/make_figures.sh logs/multiruns/<time>    # or takes one already run
#   OUT=/tmp/figures scripts/make_figures.sh ...     # elsewhere (default: docs/figures)
# Needs Chromium (Debian: apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$(realpath -m "${OUT:-docs/figures}")
source scripts/screenshot.sh  # screenshot <png> <url> <width,height>

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ -n ${1:-} ]]; then
    ln -s "$(realpath "$1")" "$work/example_sweep"
else
    python train.py -m data=synthetic data.num_samples=512 data.val_samples=128 \
        data.test_samples=128 data.max_len=30 model.embed_dim=16 model.hidden_size=16 \
        trainer=cpu trainer.max_epochs=4 callbacks.figures.num_texts=0 \
        optimizer.lr=0.002,0.02 data.batch_size=16,64 seed=1,2,3 \
        "hydra.sweep.dir=$work/example_sweep" > "$work/sweep.log" 2>&1 ||
        { tail -20 "$work/sweep.log" >&2; exit 1; }
fi

# from the work folder, so that the page names the sweep by its folder, not a temporary path
(cd "$work" && python "$root/scripts/compare.py" example_sweep --out report --report)
mkdir -p "$out"
cp "$work/report/compare.png" "$out/compare.png"
screenshot "$out/report.png" "file://$work/report/report.html" 1366,2000 > "$work/chromium.log" 2>&1
echo "wrote $out/compare.png and $out/report.png"
