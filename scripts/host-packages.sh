#!/usr/bin/env bash
# Installs the Debian packages the project needs on this host, and nothing
# that is already there. Usage: host-packages.sh run|test
#   run   what `make run` needs: namespaces, bridges, iptables, uid mapping, Node
#   test  the above plus what the test suite needs: Chromium for the browser tests,
#         Prometheus to scrape mixer, docker-compose to validate docker-compose.yml
# As root it installs with apt-get; as any other user it names the exact
# packages and the command to install them, and fails.
set -euo pipefail

profile="${1:-run}"

# command -> Debian package that provides it
declare -A run_needs=(
  [ip]=iproute2 [iptables]=iptables [newuidmap]=uidmap [unshare]=util-linux
  [setpriv]=util-linux [pgrep]=procps [node]=nodejs [npm]=npm [openssl]=openssl
  [curl]=curl
)
declare -A test_needs=([chromium]=chromium [prometheus]=prometheus [docker-compose]=docker-compose)

missing=()
check() {
  local -n needs=$1
  for cmd in "${!needs[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${needs[$cmd]}")
  done
}
check run_needs
[[ "$profile" == test ]] && check test_needs
# The project's venv must be built from a Python every user can execute (pods
# run as other uids), which is Debian's /usr/bin/python3 with its venv module.
if [[ -x /usr/bin/python3 ]] && ! /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null; then
  missing+=(python3-venv)
fi
[[ "$profile" == test ]] && ! fc-list 2>/dev/null | grep -qi liberation && missing+=(fonts-liberation)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [[ $(id -u) -ne 0 ]]; then
  echo "host-packages: missing Debian packages: ${missing[*]}" >&2
  echo "host-packages: install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "host-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "host-packages: installed ${missing[*]}"
