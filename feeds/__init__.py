"""Domain types and ingestion: fetch, parse, normalise, classify, group into stories."""
