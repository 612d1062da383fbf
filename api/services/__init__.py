"""Services: the API's logic. They own the transaction (``commit``); routes stay thin."""
