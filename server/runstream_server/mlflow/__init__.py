"""runstream as an MLflow tracking server: ``MLFLOW_TRACKING_URI`` set to runstream's own
URL makes the real MLflow client log here unchanged.

The REST API of MLflow 3.x (``service.proto``, ``model_registry.proto``,
``mlflow_artifacts.proto``) under ``/api/2.0/mlflow`` and ``/api/2.0/mlflow-artifacts``:

* ``experiments`` — experiments (a runstream project is an experiment);
* ``runs`` — runs, their metrics, parameters, tags, search and metric history;
* ``artifacts`` — the artifact proxy, into runstream's content-addressed blob store;
* ``logged_models`` — MLflow 3's logged models (``log_model`` needs them);
* ``registry`` — registered models, versions, aliases, tags: runstream's registry.

Conventions (errors, lenient scalars, epoch milliseconds) live in ``wire``; every call
becomes events through ``writes``.
"""

from __future__ import annotations

from aiohttp import web

from runstream_server.mlflow.wire import API, ARTIFACTS_API, Handler, MlflowError

__all__ = ["mlflow_routes"]


async def not_served(request: web.Request) -> web.StreamResponse:
    """Any other MLflow path or method: MLflow's own 404 shape, so the client reports
    the endpoint by name instead of failing to parse an answer."""
    return MlflowError("ENDPOINT_NOT_FOUND",
                       f"runstream does not serve {request.method} {request.path} of the "
                       "MLflow REST API (see docs/mlflow.md for what it serves)").response()


def mlflow_routes() -> list[tuple[str, str, Handler]]:
    """Every MLflow endpoint runstream serves: (method, path, handler); then, for the
    rest of MLflow's paths, ``not_served``."""
    from runstream_server.mlflow import artifacts, experiments, logged_models, registry, runs

    served = [*experiments.ROUTES, *runs.ROUTES, *artifacts.ROUTES, *logged_models.ROUTES,
              *registry.ROUTES]
    rest = [("*", prefix + "/{tail:.*}", not_served)
            for prefix in (API, ARTIFACTS_API, API.replace("2.0", "3.0"))]
    return [*served, *rest]
