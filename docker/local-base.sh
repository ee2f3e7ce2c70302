#!/usr/bin/env bash
# Builds, on an engine that cannot pull images (no registry here), the base image the
# Dockerfile takes as NODE_IMAGE: Debian bookworm (debootstrap --variant=minbase, cached as a
# tarball) with the project's pinned Node runtime (node_modules/node) and the machine's npm.
# Elsewhere, use the official image (the Dockerfile's default). Prints the tag it built:
#   im-server/node-base:<node version>
# With --debian, stops after the Debian image and prints its tag (the test services' base,
# test/services/images.sh).
# Needs root (debootstrap) the first time, and DOCKER_HOST (or the default engine) answering.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${XDG_CACHE_HOME:-$HOME/.cache}/im-server/docker
mkdir -p "$cache"
rootfs=$cache/debian-bookworm-minbase.tar

# Two runs may build at once; the second waits, then finds the tarball.
exec 9>"$cache/.lock"
flock 9
if [[ ! -f $rootfs ]]; then
  dir=$(mktemp -d)
  echo "local-base.sh: debootstrap bookworm minbase (a few minutes, once)" >&2
  # libstdc++6: the official Node binary links it; minbase has the rest (libc, libgcc).
  debootstrap --variant=minbase --include=libstdc++6 bookworm "$dir" http://deb.debian.org/debian >&2
  rm -rf "$dir"/usr/share/{doc,man,info,locale} "$dir"/var/cache/apt/* "$dir"/var/lib/apt/lists/*
  tar -C "$dir" -cf "$rootfs.tmp" .
  mv -f "$rootfs.tmp" "$rootfs"
  rm -rf "$dir"
fi

quiet() {
  local out
  out=$("$@" 2>&1) || {
    echo "$out" >&2
    return 1
  }
}

debian=im-server/debian:bookworm-minbase
docker image inspect "$debian" >/dev/null 2>&1 || quiet docker import "$rootfs" "$debian"
if [[ ${1:-} == --debian ]]; then
  echo "$debian"
  exit 0
fi

node=node_modules/.bin/node
[[ -x $node ]] || { echo "local-base.sh: run npm ci first ($node missing)" >&2; exit 1; }
version=$("$node" --version)
tag=im-server/node-base:${version#v}
# npm itself is JavaScript: the copy that runs this script, wherever it is installed.
npm_dir=$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$(readlink -f "$node")" "$ctx/node"
cp -r "$npm_dir" "$ctx/npm"
# The machine's trusted CAs (a TLS-inspecting proxy may stand between us and the npm
# registry): npm ci in the Dockerfile's build stage must trust what this machine trusts.
bundle=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f $bundle ]]; then cp "$bundle" "$ctx/ca-certificates.crt"; else : >"$ctx/ca-certificates.crt"; fi
quiet docker build --force-rm -t "$tag" -f - "$ctx" <<DOCKERFILE
FROM $debian
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version
CMD ["node"]
DOCKERFILE
echo "$tag"
