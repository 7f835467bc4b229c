"""sandlot: a self-hosted serverless cloud speaking the AWS wire protocols."""

__version__ = "0.1.0"
