#!/usr/bin/env bash
# Installs everything berth needs on a Debian 12 (bookworm) or 13 (trixie) host, as root. Idempotent:
# a second run changes nothing and takes a few seconds.
#
#   bash scripts/setup.sh            system packages, CRIU >= 4, npm dependencies, build
#   BERTH_SETUP_SKIP_NPM=1 ...       system packages only
#
# CRIU: bookworm's 3.17 fails on recent kernels (vDSO), and trixie's 4.1 binary needs glibc >= 2.38,
# which bookworm does not have. So on bookworm we add trixie as an apt source pinned at priority 100
# (nothing is ever upgraded from it by accident), take CRIU's source from there, and build the
# `criu` binary against bookworm's libraries into /usr/local/sbin. On trixie and later the packaged
# CRIU is used.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (berth drives runc, cgroups and mounts): sudo bash scripts/setup.sh"
[ -r /etc/os-release ] || die "cannot read /etc/os-release; berth's setup supports Debian 12 and 13"
. /etc/os-release
[ "${ID:-}" = debian ] || [ "${ID_LIKE:-}" = debian ] || die "unsupported distribution '${ID:-?}': berth's setup supports Debian 12 and 13"
codename=${VERSION_CODENAME:-}
[ -n "$codename" ] || die "no VERSION_CODENAME in /etc/os-release"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive
stamp_dir=/var/lib/berth-setup
mkdir -p "$stamp_dir"

# --- apt sources ---------------------------------------------------------------------------------
# The Debian mirror this host already uses, so that we never name (or need) another one.
mirror_uri() {
  local uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $0 ~ /main/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list(.d); add one and re-run"
  printf '%s' "$uri"
}

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    apt_updated=1
  fi
}

if [ "$codename" = bookworm ]; then
  uri=$(mirror_uri)
  src=/etc/apt/sources.list.d/berth-trixie.sources
  want="Types: deb deb-src
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  if [ ! -f "$src" ] || [ "$(cat "$src")" != "$want" ]; then
    log "adding trixie (pinned at 100) for CRIU's source"
    printf '%s\n' "$want" >"$src"
    apt_updated=0
  fi
  pin=/etc/apt/preferences.d/berth-trixie
  pinwant="Package: *
Pin: release n=trixie
Pin-Priority: 100"
  if [ ! -f "$pin" ] || [ "$(cat "$pin")" != "$pinwant" ]; then
    printf '%s\n' "$pinwant" >"$pin"
  fi
fi

# --- system packages -----------------------------------------------------------------------------
packages=(
  runc crun conmon                      # OCI runtimes and the per-container monitor
  catatonit tini                        # --init for app containers
  busybox-static                        # test and demo images without internet
  uidmap e2fsprogs xfsprogs btrfs-progs # user namespaces, storage
  containernetworking-plugins iproute2 iptables nftables
  socat tar gzip zstd xz-utils ca-certificates
  procps                                # ps for `top CONTAINER [ps OPTIONS]`
  skopeo umoci                          # image anchors for bench/ and interop tests
  podman golang-github-containers-common # the anchor of bench/cli-run and density
  docker-registry                       # the registry of the image tests (127.0.0.1 only)
  debootstrap                           # offline base images from the Debian mirror
  build-essential python3 pkgconf       # native npm addons (better-sqlite3) and CRIU's build
  zsh                                   # the completion test runs berth's zsh script through zsh
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update
  log "installing: ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# docker-registry's package starts a service listening on :5000 where systemd runs; tests start their own.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# --- CRIU >= 4 -----------------------------------------------------------------------------------
criu_major() { "$1" --version 2>/dev/null | awk '/^Version:/ {split($2, v, "."); print v[1]}'; }
have_criu4=0
for c in /usr/local/sbin/criu /usr/sbin/criu; do
  if [ -x "$c" ] && [ "$(criu_major "$c")" -ge 4 ] 2>/dev/null; then have_criu4=1; fi
done
if [ "$have_criu4" = 0 ]; then
  apt_update
  candidate=$(apt-cache policy criu | awk '/Candidate:/ {print $2}')
  if [ "${candidate%%.*}" -ge 4 ] 2>/dev/null; then
    log "installing criu $candidate from $codename"
    apt-get install -y -qq --no-install-recommends criu >/dev/null
  else
    log "building CRIU 4 from trixie's source against $codename's libraries"
    apt-get install -y -qq --no-install-recommends build-essential pkgconf libbsd-dev libcap-dev \
      libgnutls28-dev libnet1-dev libnftables-dev libnl-3-dev libprotobuf-c-dev libprotobuf-dev \
      protobuf-c-compiler protobuf-compiler uuid-dev python3 dpkg-dev >/dev/null
    work=$(mktemp -d /tmp/berth-criu.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    # Only the upstream tarball is needed; some mirrors serve it without the .dsc, so do not
    # trust apt-get's exit status, check for the file.
    (cd "$work" && apt-get source --download-only -qq criu/trixie >/dev/null 2>&1 || true)
    tarball=$(ls "$work"/criu_4*.orig.tar.* 2>/dev/null | head -n1)
    [ -n "$tarball" ] || die "could not fetch CRIU 4 source from trixie (apt-get source criu/trixie)"
    tar -C "$work" -xf "$tarball"
    make -C "$work"/criu-4* -j"$(nproc)" criu >"$work/build.log" 2>&1 || { tail -30 "$work/build.log" >&2; die "CRIU build failed"; }
    install -m 0755 "$work"/criu-4*/criu/criu /usr/local/sbin/criu
    rm -rf "$work"
    trap - EXIT
  fi
fi
criu_bin=$(command -v criu || true)
[ -n "$criu_bin" ] && [ "$(criu_major "$criu_bin")" -ge 4 ] || die "criu on PATH is not version 4 ($criu_bin)"

# --- kernel and id ranges --------------------------------------------------------------------------
# Isolated uid/gid ranges of system containers come from root's entries in /etc/subuid and /etc/subgid.
for f in /etc/subuid /etc/subgid; do
  grep -q '^root:1000000:' "$f" 2>/dev/null || echo "root:1000000:1000000000" >>"$f"
done
getent group berth >/dev/null || groupadd --system berth

# --- npm dependencies and build --------------------------------------------------------------------
if [ -z "${BERTH_SETUP_SKIP_NPM:-}" ]; then
  command -v npm >/dev/null || die "npm is missing: apt-get install nodejs npm (Node >= 20)"
  node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    die "Node $(node --version) is too old: berth needs Node >= 20"
  # Native addons (better-sqlite3) are compiled against Node's own headers: no download of headers or
  # prebuilt binaries is needed (or possible on a closed network). Debian's nodejs has them in libnode-dev.
  if [ ! -f /usr/include/node/node.h ] && [ "$(command -v node)" = /usr/bin/node ]; then
    apt_update
    apt-get install -y -qq --no-install-recommends libnode-dev >/dev/null || true
  fi
  [ -f /usr/include/node/node.h ] && export npm_config_nodedir=/usr
  cd "$repo"
  lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -d node_modules ] || [ "$(cat node_modules/.berth-lock 2>/dev/null)" != "$lock_sum" ]; then
    log "npm install (from package-lock.json)"
    npm install --no-audit --no-fund --loglevel=error
    echo "$lock_sum" >node_modules/.berth-lock
  fi
  log "building"
  npm run build --silent
  # berth and berthd on PATH, pointing at this checkout's build.
  chmod 0755 "$repo/packages/cli/dist/berth.cjs" "$repo/packages/daemon/dist/main.js"
  ln -sfn "$repo/packages/cli/dist/berth.cjs" /usr/local/bin/berth
  ln -sfn "$repo/packages/daemon/dist/main.js" /usr/local/bin/berthd
fi
# The systemd unit, for hosts that boot with systemd (enable it with `systemctl enable --now berthd`).
if [ -d /etc/systemd/system ]; then
  install -m 0644 "$repo/packaging/systemd/berthd.service" /etc/systemd/system/berthd.service
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
log "ready: runc $(runc --version | awk 'NR==1 {print $3}'), conmon $(conmon --version | awk 'NR==1 {print $3}'), criu $("$criu_bin" --version | awk '/^Version:/ {print $2}')"
