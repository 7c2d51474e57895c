"""Recipe space, campaigns and the virtual lab."""
