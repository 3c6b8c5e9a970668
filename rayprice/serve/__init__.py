"""The pricing service: a versioned JSON API over a policy bundle, on Ray Serve.

:mod:`~rayprice.serve.service` is the core (storage, guardrails, explanations,
the observation), :mod:`~rayprice.serve.api` the FastAPI app over it,
:mod:`~rayprice.serve.app` the Serve application with a batched policy
deployment, and :mod:`~rayprice.serve.standalone` the same app under plain
uvicorn. Only the last two import Ray or uvicorn.
"""
