"""The catalog process: ERP products and prices published to every shop."""
