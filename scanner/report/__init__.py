"""Reports of a scan run: the subscribers row by row (streamed), counts computed by the database,
and the files an officer hands on (CSV, JSON, a self-contained HTML page)."""
