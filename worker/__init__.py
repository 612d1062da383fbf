"""Worker assembly: builds the Temporal worker that runs the interpreter and its activities."""
