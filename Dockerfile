# airflow-pod-deadline: one static binary (webhook + sweeper) on distroless.
#
#   docker build -t ghcr.io/airflow-pod-deadline/airflow-pod-deadline:dev .
#   docker buildx build --platform linux/amd64,linux/arm64 ...
#
# The build command uses the Makefile's BUILD_FLAGS; test/dockerfile_test.go
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
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" -o /out/airflow-pod-deadline ./cmd/airflow-pod-deadline

# Static binary only: no shell, no package manager; nonroot is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /out/airflow-pod-deadline /airflow-pod-deadline
USER 65532:65532
ENTRYPOINT ["/airflow-pod-deadline"]
