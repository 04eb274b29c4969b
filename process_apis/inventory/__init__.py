"""The inventory process: available-to-sell across ERP instances, and stock reservations."""
