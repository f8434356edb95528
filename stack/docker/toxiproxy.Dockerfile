# Shopify Toxiproxy v2.12.0: the server and CLI are built on the host with the machine's Go
# (CGO_ENABLED=0 go install github.com/Shopify/toxiproxy/v2/cmd/{server,cli}@v2.12.0) and staged here.
# Same layout as the official image: /toxiproxy and /toxiproxy-cli.
ARG BASE_IMAGE=aarya-chaos/base:bookworm
FROM ${BASE_IMAGE}

COPY toxiproxy-server /toxiproxy
COPY toxiproxy-cli /toxiproxy-cli
EXPOSE 8474
ENTRYPOINT ["/toxiproxy"]
CMD ["-host=0.0.0.0"]
