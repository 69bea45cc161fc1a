"""The torch-free part of easycore: config, registry, path, network and parallel."""
