# One image for every process of the system; docker-compose picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/var/lib/skincare STORAGE_ROOT=/srv/files
WORKDIR /app
COPY pyproject.toml README.md celeryconfig.py ./
COPY workers ./workers
COPY tasks ./tasks
COPY queues ./queues
COPY storage ./storage
COPY schedules ./schedules
RUN pip install --no-cache-dir . && useradd --system --uid 10001 skincare \
    && mkdir -p /var/lib/skincare /srv/files && chown skincare /var/lib/skincare /srv/files
USER skincare
ENTRYPOINT ["skincare-workers"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
