# syntax=docker/dockerfile:1
# Multi-stage: wheels are built in the first stage; the runtime image has no compiler and runs as
# an unprivileged user.
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv /opt/venv && /opt/venv/bin/pip install -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=fintech.settings.prod FINTECH_VAR_DIR=/app/var
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home /app app
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=app:app . /app
# Static files are collected at build time with the dev profile (no secrets needed for that).
RUN DJANGO_SETTINGS_MODULE=fintech.settings.dev DJANGO_STATIC_ROOT=/app/static \
    python manage.py collectstatic --noinput --verbosity 0 && rm -rf /app/var/*.sqlite3
ENV DJANGO_STATIC_ROOT=/app/static
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)" || exit 1
# Worker class and count: fintech/gunicorn_conf.py (measured by bench/bench_api.py; WEB_CONCURRENCY overrides).
CMD ["gunicorn", "--config", "python:fintech.gunicorn_conf", "fintech.wsgi:application", "--bind", "0.0.0.0:8000", "--timeout", "30", \
     "--forwarded-allow-ips", "*", "--max-requests", "2000", "--max-requests-jitter", "200"]
