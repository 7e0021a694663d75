# The chat worker image: one container = one Fargate task = one `python -m chat`.
# Build: docker build -t chat .     Run: docker run -p 3000:3000 -e REDIS_ENDPOINT=redis chat
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY chat ./chat
# Only the worker's own dependencies (not the emulator's): see [project.dependencies].
RUN pip install . \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin chat

USER 10001
ENV HOST=0.0.0.0 \
    PORT=3000
EXPOSE 3000

# The ALB target group checks /healthz too; this lets `docker run` and local compose see it.
HEALTHCHECK --interval=6s --timeout=5s --start-period=5s --retries=2 \
  CMD ["python", "-c", "import os,urllib.request,sys; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/healthz', timeout=4); sys.exit(0)"]

STOPSIGNAL SIGTERM
CMD ["python", "-m", "chat"]
