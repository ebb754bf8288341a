# Experiments: headless Chromium for the report screenshot tests, and a TrueType font that plot
# labels are drawn with (plotters lays out text with it for SVG and rasterizes it for PNG).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
ci_apt_install "${missing[@]}"
# Debian's launcher script prints a harmless shell warning before the version.
chromium --version 2>/dev/null | tail -1
