# Function runtimes and build tools: python3 (with venv and pip), node and npm, bash.
missing=()
command -v python3 >/dev/null || missing+=(python3 python3-venv python3-pip)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
ci_apt_install "${missing[@]}"
python3 --version
node --version
