# sessionguard image: a Rust build stage, then only the binary on distroless cc (glibc, libgcc_s,
# CA certificates, a nonroot user; no shell, no package manager).
#
#   docker build -t sessionguard .
#
# The builder is Debian 12 like the runtime, so the binary never needs a newer glibc than the image
# has. tests/deploy/test_image_libs.py checks that every library it links is in distroless cc.

FROM rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
# Every target Cargo.toml declares must be here, or cargo refuses the manifest before building
# anything: src/ for the binary and library, benches/ for `[[bench]] presign`.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# BuildKit cache mounts keep the crates.io downloads and compiled dependencies between builds; the
# binary is copied out because the target cache is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/sessionguard /usr/local/bin/sessionguard

# distroless cc-debian12 = base (libc6, libssl3, ca-certificates, tzdata) + libgcc-s1, libstdc++6;
# the :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /usr/local/bin/sessionguard /usr/local/bin/sessionguard

# The API (credential state, /v1/) stays on loopback: every container of an awsvpc task shares it,
# nothing outside the task does. Only /metrics, /healthz and /readyz are served on all interfaces.
ENV SESSIONGUARD_LISTEN=127.0.0.1:9780 \
    SESSIONGUARD_METRICS_LISTEN=0.0.0.0:9781
EXPOSE 9780 9781

USER 65532:65532

# Exec form: there is no shell in the image. `healthcheck` asks /readyz on SESSIONGUARD_LISTEN.
# ECS ignores this instruction; task-definition.json repeats it as the container's healthCheck.
HEALTHCHECK --interval=10s --timeout=5s --start-period=90s --retries=3 \
    CMD ["/usr/local/bin/sessionguard", "healthcheck"]

ENTRYPOINT ["/usr/local/bin/sessionguard"]
CMD ["run"]
