# The image of every node of an agenttune Ray cluster: the head, the CPU workers that roll out, the GPU workers
# that train and serve. Ray 2.60 on Python 3.11, the project installed the way `make install` does (torch first,
# from TORCH_SPEC, then the project), and bubblewrap for the OS env's sandbox.
#
#   docker build -t agenttune:cpu .
#   docker build -t agenttune:gpu --build-arg BASE=rayproject/ray:2.60.0-py311-cu128 \
#       --build-arg TORCH_SPEC=torch==2.13.0 --build-arg PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#       --build-arg EXTRAS=vllm .
#
# The sandbox unshares user namespaces: the pod (or container) must allow them (see README, "Running on a Ray
# cluster"); `agenttune sandbox probe` on a node says whether it can.
ARG BASE=rayproject/ray:2.60.0-py311-cpu
FROM ${BASE}

ARG TORCH_SPEC=torch==2.13.0
# A CUDA build of torch comes from PyTorch's index: pass it here (it reaches pip through its environment).
ARG PIP_EXTRA_INDEX_URL=
ARG EXTRAS=

USER root
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends bubblewrap make uidmap mmdebstrap \
    && rm -rf /var/lib/apt/lists/*

# The Ray images' own non-root user (uid 1000); the sandbox maps its uid 0 to an unprivileged uid of its own.
USER ray
WORKDIR /home/ray/agenttune
COPY --chown=ray:users pyproject.toml README.md Makefile ./
COPY --chown=ray:users cluster ./cluster
COPY --chown=ray:users envs ./envs
COPY --chown=ray:users rollouts ./rollouts
COPY --chown=ray:users train ./train
COPY --chown=ray:users eval ./eval
RUN PIP_EXTRA_INDEX_URL="${PIP_EXTRA_INDEX_URL}" make install PYTHON=python3 VENV=/home/ray/venv \
        TORCH_SPEC="${TORCH_SPEC}" EXTRAS="${EXTRAS}" \
    && rm -rf /home/ray/.cache/pip
# The venv's Ray (the project's pinned one) is what `ray start` runs on every node, and `agenttune` is on PATH.
ENV PATH=/home/ray/venv/bin:${PATH}

# The OS env's task image (README, "The sandbox"), built as root into a directory every user reads. Best effort,
# as in `make install`: mmdebstrap needs a Debian/Ubuntu mirror and may need `docker build` privileges that a
# builder lacks; without the image the OS env uses the host's directories and says so. User ray maps the
# image's 65536 ids through newuidmap/newgidmap, which /etc/subuid and /etc/subgid allow it (the pod must then
# allow privilege escalation for those two setuid helpers, and user namespaces).
ENV AGENTTUNE_DATA_DIR=/var/cache/agenttune
USER root
RUN (make os-image VENV=/home/ray/venv || echo "WARNING: no OS task image; the OS env will use the host's directories") \
    && echo "ray:2000000000:65536" >> /etc/subuid && echo "ray:2000000000:65536" >> /etc/subgid
USER ray
