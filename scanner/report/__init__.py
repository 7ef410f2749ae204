"""Reports for people: a scan run's subscribers row by row (streamed), counts computed by the
database, the files an officer hands on (CSV, JSON, a self-contained HTML page), the failing and
review lists of the table, and one subscriber's whole evidence trail."""
