# Multi-stage image for the operator: build a wheel-installed virtualenv, copy it into a slim
# runtime that runs as a non-root user with a read-only root filesystem.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/gantry && /opt/gantry/bin/pip install --no-cache-dir --upgrade pip
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN /opt/gantry/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN groupadd --gid 65532 gantry && useradd --uid 65532 --gid 65532 --no-create-home gantry
COPY --from=build /opt/gantry /opt/gantry
ENV PATH=/opt/gantry/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["gantry"]
CMD ["run", "--all-namespaces", "--standalone", "--log-format=json", "--liveness=http://0.0.0.0:8080/healthz", "--metrics-address=0.0.0.0:9090"]
