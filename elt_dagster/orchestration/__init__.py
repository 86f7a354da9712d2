"""The thin Dagster layer: resources, the asset factory and the definitions it builds from each YAML."""
