"""Repository glue only: the dbrunbook plugin itself loads through its pytest11 entry point."""
