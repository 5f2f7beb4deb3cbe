"""Pure domain core: values, statuses and rules. No I/O, no third-party imports, time passed in."""
