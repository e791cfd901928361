"""`hitwatch serve`: hitwatch as a service (metrics, history, a live stream, notifications).

One module per concern: `ids` (event ids, SPEC §11), `store` (SQLite),
`ingest` (the ingestion thread and its checkpoints), `metrics` (Prometheus),
`notify` (webhooks, Alertmanager), `hub` and `app` (HTTP), `params` (query
parameters), `run` (putting it together), `cli` (the options).
Nothing outside this package imports it but `hitwatch.cli`, lazily.
"""
