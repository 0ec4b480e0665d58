"""Command line interface (``crossmedia ...``)."""
