"""evals: score RAG and agent outputs and log the scores next to the traces.

Not built yet (see the evaluation issue); this package exists so the distribution's layout is
fixed from the start.
"""

__all__: list[str] = []
