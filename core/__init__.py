"""Cross-cutting pieces every layer may import: settings and error types."""
