"""Use cases. Each public function owns its transactions and takes `now` (tests own the clock)."""
