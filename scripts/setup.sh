#!/usr/bin/env bash
# Installs what tandem needs on a fresh Debian machine, and nothing when it is all there:
# the OS packages the lab, the agent and the benchmarks use, and the pinned npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in sshd:openssh-server ssh:openssh-client ssh-keygen:openssh-client rsync:rsync \
            ip:iproute2 tc:iproute2 inotifywait:inotify-tools lsyncd:lsyncd nsenter:util-linux \
            unshare:util-linux setpriv:util-linux ionice:util-linux pkill:procps \
            rrsync:rsync python3:python3; do
  bin=${pair%%:*} pkg=${pair##*:}
  if ! command -v "$bin" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$bin" ]; then need+=("$pkg"); fi
done
# The drill report's PNG is rendered by resvg, which draws text with a font from the machine.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing OS packages: ${need[*]}; run as root, or: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing OS packages: ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages (pinned, from package-lock.json)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi
