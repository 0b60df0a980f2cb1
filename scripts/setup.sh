#!/usr/bin/env bash
# Installs what building, running and testing entropix needs on Debian 12, by
# package name, then the Node packages of the server's client and browser tests
# (tests/node, `npm ci`: the openai client, the Vercel AI SDK, LangChain.js, zod
# and ajv, and playwright-core, which drives Debian's Chromium; it downloads no
# browser of its own). Does nothing when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake g++ make pkg-config            # toolchain
  libgtest-dev libgmock-dev libbenchmark-dev  # tests and benchmarks
  nlohmann-json3-dev libcli11-dev libfmt-dev  # JSON, command line, formatting
  libcpp-httplib-dev libcurl4-openssl-dev     # HTTP server and client
  libsqlite3-dev libicu-dev                   # storage, Unicode categories
  python3 python3-numpy python3-jinja2        # independent reference implementations in tests
  python3-jsonschema                          # validating what the JSON Schema grammars write (tests)
  curl                                        # the server's curl-driven test
  chromium                                    # the explorer's page in a real browser (tests/node, playwright-core)
)
# The server's tests with its clients. Debian's node (18) runs the openai and AI
# SDK tests; playwright-core and LangChain.js need Node 20 or newer (on 18 the
# explorer's test fails and the LangChain ones are skipped), so a newer node
# already installed is kept.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi
if [ "${ENTROPIX_SETUP_TRAINING:-0}" = 1 ]; then
  packages+=(python3-torch libopenblas0-pthread python3-matplotlib)  # demo model training only
fi
if [ "${ENTROPIX_SETUP_FUZZ:-0}" = 1 ]; then
  packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The exact versions of package-lock.json, again only when the lock file changed.
if [ ! -f tests/node/node_modules/.package-lock.json ] ||
   [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
  echo "setup: npm ci in tests/node" >&2
  npm ci --prefix tests/node --no-audit --no-fund --loglevel=error ||
    echo "setup: npm ci failed (offline?): the Node client tests are skipped, and fail under CI=true" >&2
fi
