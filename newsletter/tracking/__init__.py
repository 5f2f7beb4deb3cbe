"""Delivery tracking: the product's receiver for SendGrid's signed Event Webhook."""
