"""DVC stage entry points: each parses its arguments, reads params, calls the rankcert library, writes outputs."""
