# Capstan in a container: `docker run -p 8000:8000 -v capstan:/data capstan`
FROM python:3.12-slim

# openssh-client and rsync: private repositories over SSH and shipping releases to targets;
# tini: PID 1 that reaps orphans (a sandbox's exited processes would stay zombies otherwise).
RUN apt-get update \
    && apt-get install -y --no-install-recommends git tar bubblewrap util-linux \
        openssh-client rsync tini \
    && rm -rf /var/lib/apt/lists/*

# A regular (non-editable) install: the wheel carries the migrations, the web UI's templates and
# static files (as app/migrations, app/frontend) and the password list, so nothing runs from the
# source tree, which is removed.
WORKDIR /opt/capstan
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
COPY frontend ./frontend
RUN pip install --no-cache-dir . && cd / && rm -rf /opt/capstan
WORKDIR /

ENV CAPSTAN_HOST=0.0.0.0 \
    CAPSTAN_PORT=8000 \
    CAPSTAN_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["tini", "--"]
CMD ["capstan", "serve"]
