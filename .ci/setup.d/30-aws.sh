# moto's server: AWS's S3, Lambda, IAM and CloudWatch Logs APIs on 127.0.0.1, for the AWS
# platform's tests. Installed in its own virtual environment under ~/.cache (kept between runs)
# and pinned, so a new moto release never changes what the tests run against.
MOTO_VERSION=5.2.5
moto_venv="$HOME/.cache/sebs-ci/moto-$MOTO_VERSION"
if ! "$moto_venv/bin/python" -c "import moto, flask, boto3" 2>/dev/null; then
    rm -rf "$moto_venv"
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
# Only moto_server goes on PATH: the venv's python3 must not shadow the one functions run with.
mkdir -p "$HOME/.cache/sebs-ci/bin"
ln -sf "$moto_venv/bin/moto_server" "$HOME/.cache/sebs-ci/bin/moto_server"
export PATH="$HOME/.cache/sebs-ci/bin:$PATH"
moto_server --version 2>/dev/null || "$moto_venv/bin/python" -c "import moto; print('moto', moto.__version__)"
# The AWS SDK for JavaScript v3's S3 client, which Lambda's Node.js runtime provides to the
# Node.js wrapper; the wrapper's test finds it through SEBS_AWS_SDK_JS. ~5 s from npm's cache.
aws_sdk_js="$HOME/.cache/sebs-ci/aws-sdk-js"
if [ ! -d "$aws_sdk_js/node_modules/@aws-sdk/client-s3" ]; then
    npm install --prefix "$aws_sdk_js" --no-audit --no-fund --loglevel=error @aws-sdk/client-s3@3
fi
export SEBS_AWS_SDK_JS="$aws_sdk_js/node_modules"
