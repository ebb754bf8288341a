# The OpenWhisk platform's tests (coordinator/platforms/openwhisk/tests): an S3-compatible server,
# moto's, in a virtual environment of its own under ~/.cache (kept between runs). OpenWhisk itself
# cannot be installed here: its REST API is tested against recorded replies.
moto_venv="$HOME/.cache/sebs-moto"
if [ ! -x "$moto_venv/bin/moto_server" ]; then
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/pip" install --quiet 'moto[server]'
fi
"$moto_venv/bin/moto_server" --help >/dev/null
