#!/usr/bin/env bash
# Renders a run's `distill report` page in headless Chromium (Debian's chromium package) and saves a
# screenshot: the check that the self-contained page draws as intended in a real browser, offline.
#   scripts/report_screenshot.sh RUN_DIR OUT.png [WIDTH,HEIGHT] [EVAL_JSON]
set -euo pipefail
cd "$(dirname "$0")/.."
run=${1:?usage: scripts/report_screenshot.sh RUN_DIR OUT.png [WIDTH,HEIGHT]}
png=${2:?usage: scripts/report_screenshot.sh RUN_DIR OUT.png [WIDTH,HEIGHT]}
size=${3:-1340,1500}
eval_json=${4:-}
BIN=${DISTILL_BIN:-build/distill}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "report_screenshot: chromium not found (apt-get install chromium)" >&2; exit 1; }
html=$("$BIN" report "$run" ${eval_json:+--eval "$eval_json"})
# No network: the page must draw from the file alone.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9 \
  --window-size="$size" --screenshot="$png" "file://$(cd "$(dirname "$html")" && pwd)/$(basename "$html")" 2>/dev/null
[ -s "$png" ] || { echo "report_screenshot: chromium wrote no screenshot" >&2; exit 1; }
echo "report_screenshot: $png"
