"""One module per command or family of commands; builder.cli imports each only when it runs."""
