# syntax=docker/dockerfile:1
# Multi-stage build: a static, non-root Parley binary on a minimal base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/parley .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/parley /parley
USER nonroot:nonroot
EXPOSE 8080 9090
ENV PARLEY_HTTP_ADDR=:8080
# Metrics on all interfaces inside the container (the default 127.0.0.1 would
# be unreachable from Prometheus); never publish 9090 to the internet.
ENV PARLEY_METRICS_ADDR=:9090
ENTRYPOINT ["/parley"]
