"""Ingest: vendor files and lab templates into the lake. Imports lake only."""
