"""The OCI config model: config.json parsed and validated, defaults, the features document, resources."""
