# A small, non-root image of tagsweep for CI systems that run containers.
#   docker build -t tagsweep .
#   docker run --rm -e DOCKERHUB_USERNAME -e DOCKERHUB_TOKEN -v "$PWD/manifests:/manifests:ro" \
#       tagsweep audit -m /manifests/linaro-kolla.yaml
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY manifests ./manifests
RUN cargo build --release --locked --bin tagsweep \
 && strip target/release/tagsweep

FROM debian:bookworm-slim
# rustls needs no OpenSSL; the CA roots are compiled in (webpki roots via
# reqwest's rustls-tls). Nothing else is installed.
COPY --from=build /src/target/release/tagsweep /usr/local/bin/tagsweep
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin tagsweep
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/tagsweep"]
CMD ["--help"]
