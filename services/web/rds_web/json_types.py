"""The types of JSON values the web app reads (request bodies) and writes (answers)."""
from typing import TypeAlias

#: Any JSON value, as ``json.loads`` returns it.
JSON: TypeAlias = dict[str, "JSON"] | list["JSON"] | str | int | float | bool | None
#: A JSON object: every API request body and every API answer is one.
JSONObject: TypeAlias = dict[str, JSON]
