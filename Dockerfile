# airflow-pod-deadline: one static binary (webhook + sweeper) on distroless.
#
#   docker build -t ghcr.io/airflow-pod-deadline/airflow-pod-deadline:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 ...
#
# make image builds the same image without Docker (release/build-image: same
# binary, a from-scratch base instead of distroless, plus an SBOM).
# The build command uses the Makefile's BUILD_FLAGS; test/static/dockerfile_test.go
# checks that they stay equal, that base images are pinned and that the final
# stage has no shell, and builds the binary with these flags.

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS builder
WORKDIR /src
# Dependencies first: this layer is reused until go.mod or go.sum changes.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH
# make image passes the same stamps: docker build --build-arg VERSION=$(make -s release-version) --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=devel
ARG REVISION=unknown
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -buildvcs=false -ldflags "-s -w -X github.com/airflow-pod-deadline/airflow-pod-deadline/version.version=$VERSION -X github.com/airflow-pod-deadline/airflow-pod-deadline/version.commit=$REVISION" -o /out/airflow-pod-deadline ./cmd/airflow-pod-deadline

# Static binary only: no shell, no package manager; nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/airflow-pod-deadline /airflow-pod-deadline
ARG VERSION=devel
ARG REVISION=unknown
LABEL org.opencontainers.image.title="airflow-pod-deadline" \
      org.opencontainers.image.source="https://github.com/airflow-pod-deadline/airflow-pod-deadline" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.revision="$REVISION"
USER 65532:65532
ENTRYPOINT ["/airflow-pod-deadline"]
