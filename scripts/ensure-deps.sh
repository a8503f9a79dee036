#!/usr/bin/env bash
# Installs whatever Berth's commands need and is missing — apt packages (as root), npm dependencies,
# the build — idempotently, and in well under a second when everything is already there.
# Used by `npm test`, `npm start` and `npm run bench`. Set BERTH_SKIP_APT=1 to skip the apt step.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages and the binary each provides (checked by binary, so a manual install also counts).
APT_PACKAGES=(
  "etcd-server:/usr/bin/etcd"
  "runc:/usr/sbin/runc"
  "containerd:/usr/bin/containerd"
  "docker-registry:/usr/bin/docker-registry"
  "skopeo:/usr/bin/skopeo"
  "umoci:/usr/bin/umoci"
  "busybox-static:/usr/bin/busybox"
  "prometheus:/usr/bin/prometheus"
  "protobuf-compiler:/usr/bin/protoc"
  "apache2-utils:/usr/bin/htpasswd"
  "attr:/usr/bin/setfattr"
  "iptables:/usr/sbin/iptables"
  "nftables:/usr/sbin/nft"
  "iproute2:/usr/sbin/ip"
  "containernetworking-plugins:/usr/lib/cni/bridge"
  "curl:/usr/bin/curl"
  "python3-minimal:/usr/bin/python3"
  "bsdutils:/usr/bin/script"
  "e2fsprogs:/usr/bin/chattr"
)

missing=()
for entry in "${APT_PACKAGES[@]}"; do
  pkg="${entry%%:*}"
  bin="${entry#*:}"
  [[ -x "$bin" ]] || missing+=("$pkg")
done
if ((${#missing[@]} > 0)) && [[ "${BERTH_SKIP_APT:-}" != 1 ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "berth: installing apt packages: ${missing[*]}" >&2
    # Do not let package scripts start system services (e.g. an etcd on :2379) as a side effect.
    policy_rc=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      policy_rc=/usr/sbin/policy-rc.d
    fi
    trap '[[ -n "$policy_rc" ]] && rm -f "$policy_rc"' EXIT
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "berth: missing ${missing[*]} (install them as root with apt-get); tests that need them will skip" >&2
  fi
fi

# npm dependencies: reinstall when package-lock.json changed since the last install.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f node_modules/.berth-lock-sum || "$(cat node_modules/.berth-lock-sum)" != "$lock_sum" ]]; then
  echo "berth: installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" >node_modules/.berth-lock-sum
fi

# Build when any source is newer than the last build.
stamp=dist/.build-stamp
if [[ ! -f $stamp ]] || [[ -n "$(find lib api controller agent cli proto tsconfig.json tsconfig.build.json package.json \
  -newer "$stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit 2>/dev/null)" ]]; then
  echo "berth: building" >&2
  npx tsc -p tsconfig.build.json
  mkdir -p dist && touch "$stamp"
fi
