"""The run store (SQLite) and the run-directory layout. Never imports torch."""
