"""SIP: sans-IO message model, transactions, dialogs."""
