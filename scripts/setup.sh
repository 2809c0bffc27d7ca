#!/usr/bin/env bash
# Install what building and testing raylab needs on a fresh Debian machine
# with rustup: the wasm32-wasip2 target for the guests, and Mesa's lavapipe
# (software Vulkan) so that GPU tasks have a real wgpu device without a GPU,
# nats-server, which a head starts so that other nodes can join it, and
# componentize-py and cloudpickle (pinned) in a virtual environment of its
# own under ${XDG_DATA_HOME:-~/.local/share}/raylab/python (no global pip),
# which build raylab's Python runtime once (`raylab-host run app.py`), and
# iproute2 for the cluster test across network namespaces.
# With --with-browser, also Debian's Chromium, which the dashboard test drives.
set -euo pipefail

packages=()

rustup target add wasm32-wasip2
# The gates scripts/test.sh runs (no-ops where they are installed).
rustup component add clippy rustfmt

if ! ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1; then
    packages+=(mesa-vulkan-drivers)
fi
if ! command -v nats-server >/dev/null 2>&1; then
    packages+=(nats-server)
fi
# `ip`, with which the cluster test across network namespaces makes its
# namespaces (it runs where the tests run as root, as in CI).
if ! command -v ip >/dev/null 2>&1; then
    packages+=(iproute2)
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi
if [ "${1:-}" = "--with-browser" ] && ! command -v chromium >/dev/null 2>&1; then
    packages+=(chromium)
fi
if [ ${#packages[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1; then
        SUDO=""
        if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null
    else
        echo "warning: cannot install ${packages[*]} (no apt-get)" >&2
    fi
fi

COMPONENTIZE_PY_VERSION=0.25.1
CLOUDPICKLE_VERSION=3.1.3
venv="${XDG_DATA_HOME:-$HOME/.local/share}/raylab/python"
if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$COMPONENTIZE_PY_VERSION" ||
    ! "$venv/bin/python3" -c "import cloudpickle; assert cloudpickle.__version__ == '$CLOUDPICKLE_VERSION'" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check \
        "componentize-py==$COMPONENTIZE_PY_VERSION" "cloudpickle==$CLOUDPICKLE_VERSION"
fi
