"""How many citations a question asks for (`top_k`), and the formats a batch file is read and
written in: what the API's schemas, `qa.batchfile` and `qa`'s options all state, kept apart from
them so that `qa --help` reads them without importing marshmallow and numpy (a second of start-up)."""

DEFAULT_TOP_K = 3
MAX_TOP_K = 20
BATCH_INPUT_FORMATS = ("txt", "jsonl", "csv")
BATCH_OUTPUT_FORMATS = ("jsonl", "csv")
