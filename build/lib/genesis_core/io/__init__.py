"""Reading scans: storage URIs, layout detection, format readers, quality checks."""
