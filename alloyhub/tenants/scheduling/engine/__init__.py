"""The scheduling engine: problem model, CP-SAT solver, dispatching baseline,
`.fjs` reader, feasibility checker, rolling-mill generator. No database, no
Flask: see the docstring of `alloyhub.tenants.scheduling` for the public API."""
from . import analysis, checker, cpsat, dispatch, fjs, generator, model

__all__ = ["analysis", "checker", "cpsat", "dispatch", "fjs", "generator", "model"]
