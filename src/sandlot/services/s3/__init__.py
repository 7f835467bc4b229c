"""Amazon S3: buckets, objects, versions and multipart uploads over SQLite and blob files."""
