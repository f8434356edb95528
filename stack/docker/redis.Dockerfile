# redis-server (Redis 7) from Debian's packages; the config is mounted (stack/redis/redis.conf.tmpl rendered).
ARG BASE_IMAGE=aarya-chaos/base:bookworm
FROM ${BASE_IMAGE}

RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
USER redis
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no"]
