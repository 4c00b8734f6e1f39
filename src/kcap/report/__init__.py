"""Tables and figures, drawn from the run store."""
