"""The HTTP and websocket API: thin handlers over the ledger and the queries."""
