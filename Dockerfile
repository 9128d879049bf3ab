# Autoresolve in a container: `docker build -t autoresolve .` then
# `docker run --env-file .env -p 3000:3000 -e HOST=0.0.0.0 autoresolve` (HOST beyond loopback needs
# API_TOKEN and WEBHOOK_TOKEN or WEBHOOK_SECRET). Mount your runbooks at /app/runbooks.yml.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 autoresolve
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY bot.py settings.py runtime.py runbooks.yml manifest.yml ./
COPY cli cli
COPY engine engine
COPY handlers handlers
COPY storage storage
USER autoresolve
ENV DATABASE_URL=sqlite:////home/autoresolve/autoresolve.db PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"3000\")}/health', timeout=4)"
ENTRYPOINT ["python", "bot.py"]
CMD ["serve"]
