"""What an erasure must reach beyond the subscriber rows: raw webhook batches and other text
that quotes an address (`stored_text`), and the files the product writes (`product_files`).
The use case that ties them into one erasure is `services.privacy.erase_subscriber`."""
