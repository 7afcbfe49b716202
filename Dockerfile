# wxtoken's container image: one static binary on an empty base, run as a
# user without privileges, with a read-only root filesystem in mind.
#
#   docker build -t wxtoken --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run --read-only --tmpfs /tmp -v wxtoken-data:/data \
#     -v $PWD/wxtoken.yaml:/etc/wxtoken/wxtoken.yaml:ro -e WX_SHOP_SECRET -p 8080:8080 wxtoken
#
# The config is read from /etc/wxtoken/wxtoken.yaml (mount yours there) and
# must listen on 0.0.0.0:8080 (or say another port here and in -p). A bolt
# store belongs under /data, the volume owned by the image's user. The
# health check runs `wxtoken healthcheck` against the config's listen
# address: the image holds no shell and no curl.

# GO_IMAGE is the toolchain to build with; any image with Go 1.26 and a
# shell will do (etc/container/check.sh passes one it makes from the local
# toolchain where no registry can be reached).
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
WORKDIR /src
# The modules first, so that a change of source does not fetch them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
ARG BUILD_DATE=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/wxtoken/wxtoken.Version=${VERSION} -X github.com/wxtoken/wxtoken.Commit=${COMMIT} -X github.com/wxtoken/wxtoken.BuildDate=${BUILD_DATE}" \
      -o /out/usr/local/bin/wxtoken ./cmd/wxtoken \
 && mkdir -p /out/etc/ssl/certs /out/etc/wxtoken /out/tmp /volume/data \
 && chmod 1777 /out/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/etc/ssl/certs/ \
 && echo 'wxtoken:x:65532:65532:wxtoken:/data:/nonexistent' > /out/etc/passwd \
 && echo 'wxtoken:x:65532:' > /out/etc/group

FROM scratch
# The CA certificates are the ones WeChat's HTTPS is checked against; the
# passwd and group files name the user in logs and tools.
COPY --from=build /out/ /
# /data is copied as an item of /volume (not as the destination itself), so
# that the directory, not only what it holds, belongs to the image's user.
COPY --from=build --chown=65532:65532 /volume/ /
USER 65532:65532
WORKDIR /data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/wxtoken"]
CMD ["serve", "--config", "/etc/wxtoken/wxtoken.yaml"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/wxtoken", "healthcheck", "--config", "/etc/wxtoken/wxtoken.yaml"]
