"""Remote expert diagnostics (issue 7)."""
