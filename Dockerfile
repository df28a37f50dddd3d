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
EXPOSE 8080
ENV PARLEY_HTTP_ADDR=:8080
ENTRYPOINT ["/parley"]
