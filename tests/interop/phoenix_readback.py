"""Run with the Phoenix venv's interpreter: read one trace back through Phoenix's own client.

    python phoenix_readback.py BASE_URL PROJECT TRACE_ID

Prints JSON: ``spans`` from ``Client.spans.get_spans`` (the REST API, as Phoenix's client
returns it) and ``dataframe`` from ``Client.spans.get_spans_dataframe`` (Phoenix's span query
engine), one record per span of the trace. Imports nothing from the project: it runs in the
other virtualenv.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main(base_url: str, project: str, trace_id: str) -> dict[str, Any]:
    from phoenix.client import Client

    client = Client(base_url=base_url)
    spans = client.spans.get_spans(project_identifier=project, trace_ids=[trace_id], limit=100)
    frame = client.spans.get_spans_dataframe(project_identifier=project, limit=1000)
    frame = frame[frame["context.trace_id"] == trace_id].reset_index(drop=True)
    keep = [c for c in frame.columns if c in ("context.span_id", "name", "span_kind", "parent_id")]
    keep += [c for c in frame.columns if c.startswith("attributes.")]
    records = [
        {key: value for key, value in row.items() if _present(value)}
        for row in frame[keep].to_dict(orient="records")
    ]
    return {"spans": spans, "dataframe": records}


def _present(value: Any) -> bool:
    try:
        return not (value is None or value != value)  # None or NaN: the column is not set
    except (TypeError, ValueError):  # arrays and the like compare element-wise
        return True


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4]), default=str))
