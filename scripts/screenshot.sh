# Sourced by the screenshot scripts: `screenshot <png> <url> <width,height> [chromium flags...]`
# takes one headless-Chromium screenshot of a page on this machine. The flags keep Chromium off
# the network (this machine's closed network refuses its background connections).
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
    echo "Chromium not found: install it (Debian: apt-get install chromium)." >&2
    exit 1
fi

screenshot() {
    local png=$1 url=$2 size=$3
    shift 3
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$(mktemp -d)" --hide-scrollbars --window-size="$size" \
        --screenshot="$png" "$@" "$url"
}
