# The six reference services (uvicorn stack.services.<name>.app:app), one image for all of them.
# Built by stack/drivers/docker/images.py FROM the debootstrap base; the context is staged by it:
# requirements-services.txt, stack/ (only stack/__init__.py and stack/services), ca-certificates/.
ARG BASE_IMAGE=aarya-chaos/base:bookworm
FROM ${BASE_IMAGE}

RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# The host's extra certificate authorities, so pip trusts what the host trusts (an egress proxy).
COPY ca-certificates/ /usr/local/share/ca-certificates/
RUN update-ca-certificates

COPY requirements-services.txt /opt/aarya/requirements-services.txt
RUN python3 -m venv /opt/venv \
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/venv/bin/pip install --no-cache-dir \
        --disable-pip-version-check -r /opt/aarya/requirements-services.txt

COPY stack/ /app/stack/
RUN useradd --system --home-dir /app --shell /usr/sbin/nologin aarya
USER aarya
WORKDIR /app
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
CMD ["python", "-c", "print('set the command: python -m uvicorn stack.services.<name>.app:app ...')"]
