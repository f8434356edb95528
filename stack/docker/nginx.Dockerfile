# nginx (the API gateway) from Debian's nginx-light, plus curl for the health check.
ARG BASE_IMAGE=aarya-chaos/base:bookworm
FROM ${BASE_IMAGE}

RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends nginx-light curl \
 && rm -rf /var/lib/apt/lists/*
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
