"""Where `send_batch` runs: engine threads (default) or Dramatiq workers. Same guarantees."""
