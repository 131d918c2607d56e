"""The run agent: wraps a script, captures its output and SDK events, ships them."""
