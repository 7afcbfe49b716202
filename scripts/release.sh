#!/usr/bin/env bash
# Builds wxtoken's release binaries: static (CGO_ENABLED=0), without local
# paths (-trimpath), stamped with the version, the commit and the build
# date, one per target, into dist/, with their SHA-256 sums in
# dist/SHA256SUMS (check them with `sha256sum -c SHA256SUMS` in dist/).
#
#   scripts/release.sh                       # version from `git describe`, every target
#   VERSION=1.2.0 scripts/release.sh         # a version of your choosing
#   scripts/release.sh linux/amd64           # only the targets named
#
# Environment: VERSION (default: the latest tag, `git describe --tags`,
# else 0.0.0-<short commit>), COMMIT (default: git rev-parse HEAD), DIST
# (default: dist). SOURCE_DATE_EPOCH, when set, is the build date, for a
# build that can be repeated byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(linux/amd64 linux/arm64 darwin/arm64)
fi
commit=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
if [ -z "${VERSION:-}" ]; then
  if git describe --tags --abbrev=0 >/dev/null 2>&1; then
    VERSION=$(git describe --tags --dirty)       # v1.2.0, or v1.2.0-3-g1a2b3c4 past it
  elif short=$(git rev-parse --short HEAD 2>/dev/null); then
    VERSION=0.0.0-$short                         # no tag yet
    git diff --quiet HEAD 2>/dev/null || VERSION=$VERSION-dirty
  else
    VERSION=0.0.0-dev
  fi
  VERSION=${VERSION#v}
fi
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
else
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi
dist=${DIST:-dist}

pkg=github.com/wxtoken/wxtoken
ldflags="-s -w -X $pkg.Version=$VERSION -X $pkg.Commit=$commit -X $pkg.BuildDate=$date"
mkdir -p "$dist"
files=()
for target in "${targets[@]}"; do
  case "$target" in
    linux/amd64|linux/arm64|darwin/arm64|darwin/amd64|windows/amd64) ;;
    *) echo "release.sh: unknown target $target (want one of linux/amd64, linux/arm64, darwin/arm64)" >&2; exit 2 ;;
  esac
  os=${target%/*} arch=${target#*/}
  name=wxtoken-$VERSION-$os-$arch
  [ "$os" = windows ] && name=$name.exe
  echo "building $dist/$name"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false -ldflags "$ldflags" \
    -o "$dist/$name" ./cmd/wxtoken
  files+=("$name")
done
(cd "$dist" && sha256sum "${files[@]}" > SHA256SUMS)
echo "wrote $dist/SHA256SUMS:"
cat "$dist/SHA256SUMS"
