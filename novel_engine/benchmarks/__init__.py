"""Every benchmark of the engine, one module per suite (``novel-engine bench ...``): ``core`` and
``runtime`` (core.py), ``llm``, ``store`` and ``story``. The HTTP API's (``bench api``) lives with
the app, in ``serve_app.bench``. Each prints its figures and writes them as JSON.
"""
