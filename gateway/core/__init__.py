"""Sans-I/O protocol core: framing, schemas, session state; no event loop, sockets or clocks."""
