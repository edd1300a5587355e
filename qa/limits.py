"""How many citations a question asks for (`top_k`): the limits the API's schemas and `qa ask
--top-k` both state, kept apart from the schemas so that `qa --help` reads them without importing
marshmallow and numpy (a second of start-up)."""

DEFAULT_TOP_K = 3
MAX_TOP_K = 20
