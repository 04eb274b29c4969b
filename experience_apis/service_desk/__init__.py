"""The service-desk experience API: what a Zendesk sidebar app needs about a customer's orders."""
