# Production image for labelapp: the same image runs the web server (uvicorn, labelapp.web_server) and the RQ workers.
# Build: docker compose build   ·   see README.md, "Production with Docker".
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home --uid 1000 app \
 && mkdir -p /data/media /data/checkpoints \
 && chown -R app:app /data

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD curl -fsS -o /dev/null -H "Host: localhost" http://127.0.0.1:8000/accounts/login/ || exit 1
CMD ["sh", "-c", "HOST=0.0.0.0 PORT=8000 exec python -m labelapp.web_server"]
