"""`POST /v1/chat/completions`: the OpenAI chat-completions protocol, so chatbot front ends and
the official clients can talk to the service unchanged.

The last user message is the question and the earlier user messages are its history; the
assistant's replies (without their [n] markers) are what the conversation was told: whom "he"
means, and what "Tell me more." must not repeat. System messages are read past,
though their content, as every message's, must be text or content parts (else a 400).
The reply's content is the answer with its `[n]` markers; the citations ride along in an extra
`citations` field of the message, or, when streaming, of the final chunk's delta. Sampling
parameters such as `temperature` are type-checked and ignored (there is no sampling to tune);
`stop` and `max_tokens` cut the reply; a reply that cannot be given (JSON, a tool call, token
probabilities) is refused rather than answered in prose.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import marshmallow as ma
from flask import Response, current_app
from flask.views import MethodView
from marshmallow import fields, validate

from qa.answering import Answer
from qa.api.errors import INVALID_FIELDS
from qa.api.keys import require_read_key
from qa.api.routes import Blueprint, require_json_body, service
from qa.api.streaming import event_stream_media, json_or_stream, ref, streamed
from qa.api.timing import timed
from qa.limits import DEFAULT_TOP_K, MAX_TOP_K
from qa.retrieval import Query
from qa.schemas import (
    MAX_HISTORY_TURNS,
    MAX_QUESTION_CHARS,
    NOT_BLANK,
    AskRequestSchema,
    CitationSchema,
    StrictBoolean,
    StrictInteger,
    StrictNumber,
    Text,
    answer_to_dict,
    doc_ids_field,
    field_problems,
    unicode_text,
)

MODEL = "article-qa"
# `created` of the model in `GET /v1/models`: when this process started (there is no release date
# to give, and clients only read it as a Unix time).
STARTED = int(time.time())
EVENT_STREAM = "text/event-stream"
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


NO_TEXT_PART = "Holds no part of type 'text': this service reads text only."


def _is_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text"


class MessageContent(fields.Field):
    """A message's text: a string, or a list of content parts whose text parts are joined."""

    default_error_messages = {  # noqa: RUF012 (marshmallow's)
        "invalid": "Must be a string or a list of content parts.",
        "text_not_string": "A part of type 'text' must have its 'text' as a string.",
    }

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> str:
        # null is blank text: marshmallow would hand it on as None (`allow_none`), and the code that
        # reads a message's text (an assistant's reply before the question too) expects a string.
        return "" if value is None else super().deserialize(value, attr, data, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if isinstance(value, list) and all(isinstance(part, dict) for part in value):
            texts = [part.get("text") for part in value if _is_text_part(part)]
            if not all(isinstance(text, str) for text in texts):
                raise self.make_error("text_not_string")
            value = "\n".join(texts)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        unicode_text(value)
        return value


class ChatMessageSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # name, tool_calls and other fields of the protocol are read past

    @ma.validates_schema(pass_original=True)
    def _user_text(self, data: dict[str, Any], original: Any, **_: Any) -> None:
        """A user's message is a question: content parts without a text part (an image alone, a
        Responses-API `input_text`) have none. Other roles' may: their content is read past."""
        parts = original.get("content") if isinstance(original, dict) else None
        if data.get("role") == "user" and isinstance(parts, list) and not any(_is_text_part(p) for p in parts):
            raise ma.ValidationError({"content": [NO_TEXT_PART]})

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = MessageContent(
        allow_none=True,
        load_default="",
        # null is spelled inside the oneOf: OpenAPI 3.0's `nullable` only applies next to a `type`.
        metadata={
            "oneOf": [{"type": "string", "nullable": True}, {"type": "array", "items": {"type": "object"}}],
            "description": "Text, or content parts whose `text` parts are read.",
        },
    )


# What the request schema cannot say but the OpenAPI document should: a user message is a
# question (or history), so its text is limited like one; other roles' content is read past, but
# is still checked to be text or content parts, as `ChatMessage` (and the protocol) says.
_PARTS = {"type": "array", "items": {"type": "object"}}
_TEXT_PART = {
    "type": "object",
    "required": ["type", "text"],
    "properties": {
        "type": {"enum": ["text"]},
        "text": {"type": "string", "maxLength": MAX_QUESTION_CHARS, "pattern": NOT_BLANK},
    },
}
MESSAGE_BY_ROLE = {
    "oneOf": [
        {
            "type": "object",
            "required": ["role", "content"],
            "properties": {
                "role": {"type": "string", "enum": ["user"]},
                "content": {
                    "oneOf": [
                        {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION_CHARS, "pattern": NOT_BLANK},
                        {
                            **_PARTS,
                            "not": {"items": {"not": _TEXT_PART}},
                            "description": "Content parts, at least one of type `text`; their `text`, joined "
                            "by newlines, is limited like a question.",
                        },
                    ]
                },
            },
        },
        {
            "type": "object",
            "required": ["role"],
            "properties": {"role": {"type": "string", "enum": [role for role in ROLES if role != "user"]}},
            "description": 'Read past (an assistant\'s reply says whom a later "he" means and what was told); '
            "its content may be blank or long, but is text or content parts as for any message.",
        },
    ]
}


@dataclass(frozen=True)
class ChatRequest:
    query: Query
    stream: bool
    include_usage: bool = False
    # The reply's content ends before the first of these, as the protocol's `stop` asks...
    stop: tuple[str, ...] = ()
    # ... and holds at most this many word pieces (`max_completion_tokens`, or `max_tokens`).
    max_tokens: int | None = None


ONE_CHOICE = "Only one choice is given: n must be 1 (or null)."
STREAM_OPTIONS_ALONE = "Only allowed when stream is true (else absent or null)."
TEXT_REPLIES_ONLY = (
    "Replies are text only: the answer with [n] markers, its citations as JSON in `citations`; type must be 'text'."
)
NO_TOOL_CALLS = "No tool is ever called (the reply is an answer from the articles): 'none' or 'auto' (or null)."
NO_LOGPROBS = "The reply is quoted from the articles, not sampled: it has no token probabilities (false or null)."
STOP_SEQUENCES = "Must be a string or a list of 1 to 4 strings (or null)."
MAX_STOP_SEQUENCES = 4


class ResponseFormatSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # json_schema and the like: refused with their type anyway

    type = fields.String(required=True, validate=validate.Equal("text", error=TEXT_REPLIES_ONLY))


class NoToolCall(fields.Field):
    """`tool_choice` (or the older `function_call`): the reply never calls a tool, so only "none"
    and "auto" (where a model may answer without one) are kept to; "required" or a named function
    is refused rather than answered with a reply that calls none."""

    default_error_messages = {"invalid": NO_TOOL_CALLS}  # noqa: RUF012 (marshmallow's)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if value not in ("none", "auto"):
            raise self.make_error("invalid")
        return str(value)


class StopSequences(fields.Field):
    """The protocol's `stop`: a string or a list of up to four, as a tuple."""

    default_error_messages = {"invalid": STOP_SEQUENCES}  # noqa: RUF012 (marshmallow's)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        sequences = [value] if isinstance(value, str) else value
        if (
            not isinstance(sequences, list)
            or not 1 <= len(sequences) <= MAX_STOP_SEQUENCES
            or not all(isinstance(sequence, str) and sequence for sequence in sequences)
        ):
            raise self.make_error("invalid")
        return tuple(sequences)


def _sampling(low: float, high: float, what: str) -> StrictNumber:
    """A sampling parameter: read past (there is no sampling), but only as the protocol types it."""
    return StrictNumber(
        load_default=None,
        allow_none=True,
        validate=validate.Range(low, high),
        metadata={"description": f"{what}: accepted and ignored."},
    )


def _limit(what: str) -> StrictInteger:
    return StrictInteger(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={
            "description": f"{what}: the reply's content is cut after this many word pieces (as `usage` "
            'counts them), with `finish_reason` "length".'
        },
    )


class StreamOptionsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # the protocol's other options are read past

    include_usage = StrictBoolean(
        load_default=False,
        allow_none=True,
        metadata={
            "description": "Send a last chunk with `usage` and empty `choices` before `data: [DONE]`; "
            'every other chunk then has `"usage": null`.'
        },
    )


class ChatRequestSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # the protocol's other fields (metadata, store, modalities...) are read past

    model = Text(load_default=MODEL, metadata={"description": f"Any name; replies say {MODEL!r}."})
    messages = fields.List(
        fields.Nested(ChatMessageSchema, metadata=MESSAGE_BY_ROLE),
        required=True,
        validate=validate.Length(min=1),
        # "Holds a user message", as OpenAPI 3.0 (which lacks `contains`) can say it: not all items are not one.
        metadata={
            "description": "The last user message is the question, earlier user messages its history.",
            "not": {
                "items": {"not": {"type": "object", "required": ["role"], "properties": {"role": {"enum": ["user"]}}}}
            },
        },
    )
    # The protocol's `stream` is a boolean or null, its default (the official client sends
    # null for `stream=None`); anything else, 1 or "yes" included, is a 400.
    stream = StrictBoolean(
        load_default=False,
        allow_none=True,
        metadata={"description": "Answer as server-sent events; null or absent: false."},
    )
    # There is one answer to give, so asking for several choices is refused rather than given one.
    n = StrictInteger(
        load_default=1,
        allow_none=True,
        validate=validate.Equal(1, error=ONE_CHOICE),
        metadata={"description": "How many choices: only 1 (null or absent: 1)."},
    )
    stream_options = fields.Nested(
        StreamOptionsSchema,
        load_default=None,
        allow_none=True,
        metadata={
            "description": 'Only with `"stream": true`, else a 400 unless null: `include_usage` as the protocol has it.'
        },
    )
    top_k = StrictInteger(
        load_default=DEFAULT_TOP_K,
        validate=validate.Range(1, MAX_TOP_K),
        metadata={"description": "Extension: how many citations at most."},
    )
    doc_ids = doc_ids_field("Extension: answer from these articles only (their `doc_id`s); leave it out for all.")
    max_tokens = _limit("The older name of `max_completion_tokens`")
    max_completion_tokens = _limit("At most this many tokens")
    stop = StopSequences(
        load_default=None,
        allow_none=True,
        metadata={
            "oneOf": [
                {"type": "string", "minLength": 1, "nullable": True},
                {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1, "maxItems": 4},
            ],
            "description": "The reply's content ends before the first of these.",
        },
    )
    # What the reply cannot be is refused, not read past: a client asking for JSON or a tool call
    # would take prose it did not ask for as its own failure.
    response_format = fields.Nested(
        ResponseFormatSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": 'Only `{"type": "text"}` (or null).'},
    )
    tool_choice = NoToolCall(
        allow_none=True,
        metadata={"type": "string", "enum": ["none", "auto"], "nullable": True, "description": NO_TOOL_CALLS},
    )
    function_call = NoToolCall(
        allow_none=True,
        metadata={"type": "string", "enum": ["none", "auto"], "nullable": True, "description": "As `tool_choice`."},
    )
    tools = fields.List(fields.Dict(), allow_none=True, metadata={"description": "Read past: no tool is called."})
    functions = fields.List(fields.Dict(), allow_none=True, metadata={"description": "As `tools`."})
    parallel_tool_calls = StrictBoolean(allow_none=True, metadata={"description": "Read past."})
    logprobs = StrictBoolean(
        allow_none=True,
        validate=validate.Equal(False, error=NO_LOGPROBS),
        metadata={"description": "Only false (or null): " + NO_LOGPROBS},
    )
    top_logprobs = StrictInteger(
        allow_none=True, validate=validate.Range(0, 20), metadata={"description": "Read past."}
    )
    temperature = _sampling(0, 2, "Sampling temperature")
    top_p = _sampling(0, 1, "Nucleus sampling")
    presence_penalty = _sampling(-2, 2, "Presence penalty")
    frequency_penalty = _sampling(-2, 2, "Frequency penalty")
    seed = StrictInteger(allow_none=True, metadata={"description": "Read past: every reply is the same anyway."})
    logit_bias = fields.Dict(allow_none=True, metadata={"description": "Read past."})
    user = fields.String(allow_none=True, metadata={"description": "Read past."})

    @ma.validates_schema
    def stream_options_need_a_stream(self, data: dict[str, Any], **_: Any) -> None:
        """As OpenAI: options for a stream asked of a plain reply are refused, not read past."""
        if data["stream_options"] is not None and data["stream"] is not True:
            raise ma.ValidationError(STREAM_OPTIONS_ALONE, "stream_options")

    @ma.post_load
    def to_chat_request(self, data: dict[str, Any], **_: Any) -> ChatRequest:
        include_usage = (data["stream_options"] or {}).get("include_usage") is True
        query = chat_query(data["messages"], data["top_k"], data["doc_ids"])
        limit = data["max_completion_tokens"] if data["max_completion_tokens"] is not None else data["max_tokens"]
        return ChatRequest(query, data["stream"] is True, include_usage, data["stop"] or (), limit)


_MARKER = re.compile(r"\s*\[\d+\]")
# How much of each earlier reply is read (what it quoted, whom it named): a reply quotes two
# citations, so a few thousand characters at most.
MAX_REPLY_CHARS = 4 * MAX_QUESTION_CHARS


def chat_query(messages: list[dict[str, str]], top_k: int, doc_ids: list[str] | None = None) -> Query:
    """The last user message asks and the earlier user messages are its history (MAX_HISTORY_TURNS
    at most, the oldest dropped); the assistant's replies, markers dropped, are what it was `told`
    (whom a "he" is, what "Tell me more." must not repeat). Replies are not history: their words,
    the articles' own, made any question that followed them look covered."""
    users = [position for position, message in enumerate(messages) if message["role"] == "user"]
    if not users:
        raise ma.ValidationError({"messages": ["Must contain a message with the role 'user'."]})
    history = users[:-1][-MAX_HISTORY_TURNS:]
    ask = {
        "question": messages[users[-1]]["content"],
        "history": [messages[i]["content"] for i in history],
        "top_k": top_k,
        **({"doc_ids": doc_ids} if doc_ids else {}),
    }
    replies = [m["content"] for m in messages[: users[-1]] if m["role"] == "assistant"][-MAX_HISTORY_TURNS:]
    told = tuple(_MARKER.sub("", reply)[:MAX_REPLY_CHARS].strip() for reply in replies)
    try:
        return replace(AskRequestSchema().load(ask), told=told)
    except ma.ValidationError as exc:
        # Point at the message at fault, as a client sent it: messages.<position>.content
        errors = exc.messages if isinstance(exc.messages, dict) else {}
        by_message: dict[int, Any] = {
            history[int(turn)]: {"content": problem} for turn, problem in errors.get("history", {}).items()
        }
        if "question" in errors:
            by_message[users[-1]] = {"content": errors["question"]}
        raise ma.ValidationError({"messages": by_message}) from exc


class ChatReplySchema(ma.Schema):
    role = fields.String(required=True, metadata={"example": "assistant"})
    content = fields.String(required=True, metadata={"description": "The answer with [n] citation markers."})
    citations = fields.List(
        fields.Nested(CitationSchema),
        required=True,
        metadata={"description": "Extension: the same citations as /v1/ask."},
    )
    answerable = fields.Boolean(
        required=True, metadata={"description": "Extension: false when the articles do not cover the question."}
    )


class UsageSchema(ma.Schema):
    prompt_tokens = fields.Integer(
        required=True,
        metadata={"description": "Word pieces of the question and its history, by the embedding model's tokenizer."},
    )
    completion_tokens = fields.Integer(
        required=True, metadata={"description": "Word pieces of the reply's content, by the same tokenizer."}
    )
    total_tokens = fields.Integer(required=True)


class ChatChoiceSchema(ma.Schema):
    index = fields.Integer(required=True)
    message = fields.Nested(ChatReplySchema, required=True)
    finish_reason = fields.String(required=True, metadata={"example": "stop"})


class ChatCompletionSchema(ma.Schema):
    id = fields.String(required=True)
    object = fields.String(required=True, metadata={"example": "chat.completion"})
    created = fields.Integer(required=True, metadata={"description": "Unix time, seconds."})
    model = fields.String(required=True, metadata={"example": MODEL})
    system_fingerprint = fields.String(
        required=True, metadata={"description": "The index generation that answered (as /readyz names it)."}
    )
    choices = fields.List(fields.Nested(ChatChoiceSchema), required=True)
    usage = fields.Nested(UsageSchema, required=True)


class ChatDeltaSchema(ma.Schema):
    role = fields.String()
    content = fields.String()
    citations = fields.List(fields.Nested(CitationSchema), metadata={"description": "In the final chunk only."})
    answerable = fields.Boolean(metadata={"description": "In the final chunk only: false for a declined question."})


class ChatChunkChoiceSchema(ma.Schema):
    index = fields.Integer(required=True)
    delta = fields.Nested(ChatDeltaSchema, required=True)
    finish_reason = fields.String(required=True, allow_none=True)


class ChatCompletionChunkSchema(ma.Schema):
    id = fields.String(required=True)
    object = fields.String(required=True, metadata={"example": "chat.completion.chunk"})
    created = fields.Integer(required=True)
    model = fields.String(required=True)
    system_fingerprint = fields.String(required=True, metadata={"description": "The index generation that answered."})
    choices = fields.List(
        fields.Nested(ChatChunkChoiceSchema),
        required=True,
        metadata={"description": "Empty in the usage chunk only."},
    )
    usage = fields.Nested(
        UsageSchema,
        allow_none=True,
        metadata={
            "description": "Only when `stream_options.include_usage` is true: in every chunk, null but in "
            "the last, which has empty `choices`."
        },
    )


def _envelope(kind: str, answer: Answer) -> dict[str, Any]:
    """OpenAI's envelope; its `system_fingerprint` (what served the reply) is the index generation."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": MODEL,
        "system_fingerprint": answer.generation,
    }


@dataclass(frozen=True)
class Reply:
    """What the reply's content says of an answer, and why it ends there."""

    content: str
    finish_reason: str = "stop"


def reply_to(answer: Answer, request: ChatRequest, first_tokens: Callable[[str, int], str]) -> Reply:
    """The answer's text, ended before the first of the request's stop sequences and cut to its
    `max_tokens` word pieces by `first_tokens` (then `finish_reason` "length"). The citations are
    given whole either way: a client cutting the text short still gets what it rests on."""
    content = answer.answer
    ends = [content.find(sequence) for sequence in request.stop]
    content = content[: min((end for end in ends if end >= 0), default=len(content))]
    if request.max_tokens is not None:
        cut = first_tokens(content, request.max_tokens)
        if cut != content:
            return Reply(cut, "length")
    return Reply(content)


def usage(query: Query, reply: Reply, count: Callable[[str], int]) -> dict[str, int]:
    """Tokens as the protocol reports them, counted by `count` (the embedding model's tokenizer):
    the question and the history it was asked with in, the reply's content out."""
    prompt = sum(count(text) for text in (*query.history, query.question))
    out = count(reply.content)
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


def completion(answer: Answer, reply: Reply, tokens: dict[str, int]) -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": reply.content,
        "citations": answer_to_dict(answer)["citations"],
        "answerable": answer.answerable,
    }
    return {
        **_envelope("chat.completion", answer),
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
        "usage": tokens,
    }


def completion_chunks(answer: Answer, reply: Reply, tokens: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """The role, then the reply a word at a time, then the citations and whether the question was
    answered (so a client never has to recognise a declined answer by its words) with the reply's
    finish_reason; with `tokens`, a last chunk of empty `choices` carrying them as `usage`, and
    `"usage": null` in every chunk before it, as OpenAI sends them."""
    envelope = _envelope("chat.completion.chunk", answer)
    if tokens is not None:
        envelope["usage"] = None
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": word} for word in re.findall(r"\s*\S+", reply.content)]
    for delta in deltas:
        yield {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    final = {"citations": answer_to_dict(answer)["citations"], "answerable": answer.answerable}
    yield {**envelope, "choices": [{"index": 0, "delta": final, "finish_reason": reply.finish_reason}]}
    if tokens is not None:
        yield {**envelope, "choices": [], "usage": tokens}


def server_sent_events(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


chat = Blueprint("chat", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions.")
chat.before_request(require_read_key)
chat.before_request(require_json_body)

# OpenAI's error `type` by status; a 5xx is the server's.
OPENAI_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error"}


@chat.after_request
def openai_error_shape(response: Response) -> Response:
    """Our errors with OpenAI's `type` and `param` added, and the first field's problem in the
    `message`: the official clients raise an exception of that message alone, and front ends show
    only it, so "see fields" told a user nothing (`n=2` read "The request is not valid; see
    fields.")."""
    body = response.get_json(silent=True) if response.status_code >= 400 and response.is_json else None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return response
    status = response.status_code
    error["type"] = "server_error" if status >= 500 else OPENAI_ERROR_TYPES.get(status, "invalid_request_error")
    error["param"] = None
    if isinstance(error.get("fields"), dict) and error["fields"]:
        where, problems = next(field_problems(error["fields"]))
        error["param"] = where or None  # "": the body as a whole
        if error["message"] == INVALID_FIELDS:  # other messages say what is wrong already
            error["message"] = INVALID_FIELDS.replace(
                "see fields.", f"{where}: {problems[0]}" if where else problems[0]
            )
    response.set_data(current_app.json.dumps(body))
    return response


@chat.route("/chat/completions")
class ChatCompletions(MethodView):
    @json_or_stream(
        chat,
        ChatRequestSchema,
        ChatCompletionSchema,
        EVENT_STREAM,
        event_stream_media(ref("ChatCompletionChunk")),
        "Not valid (`invalid_request`, with `fields`): no message with the role 'user'; the last "
        "user message (the question) or one of the 20 before it (its history) blank, over 1000 "
        "characters or not valid Unicode; `n` other than 1 (one choice is given); `stream_options` "
        'without `"stream": true`; a field of the wrong type. Or not JSON (`invalid_json`).',
    )
    def post(self, chat_request: ChatRequest) -> Any:
        """Answer the last user message of a conversation, in the chat-completions protocol.

        With `"stream": true` the reply is a stream of server-sent events, one
        `chat.completion.chunk` each, the citations in the final chunk, then (with
        `stream_options.include_usage`, when the others carry `"usage": null`) a chunk of `usage`
        alone, then `data: [DONE]`.
        """
        qa = service()
        with timed("pipeline"):
            answer = qa.ask(chat_request.query)
        query = chat_request.query
        reply = reply_to(answer, chat_request, qa.embedder.first_tokens)
        if chat_request.stream:
            tokens = usage(query, reply, qa.embedder.count_tokens) if chat_request.include_usage else None
            return streamed(server_sent_events(completion_chunks(answer, reply, tokens)), EVENT_STREAM)
        return completion(answer, reply, usage(query, reply, qa.embedder.count_tokens))


class ModelSchema(ma.Schema):
    id = fields.String(required=True, metadata={"example": MODEL})
    object = fields.String(required=True, metadata={"example": "model"})
    created = fields.Integer(required=True, metadata={"description": "Unix time, seconds: when the server started."})
    owned_by = fields.String(required=True, metadata={"example": MODEL})


class ModelListSchema(ma.Schema):
    object = fields.String(required=True, metadata={"example": "list"})
    data = fields.List(fields.Nested(ModelSchema), required=True)


def model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": STARTED, "owned_by": MODEL}


@chat.route("/models")
class Models(MethodView):
    @chat.response(200, ModelListSchema)
    def get(self) -> Any:
        """The models a chat may name, in the protocol's shape: one, `article-qa`.

        Chat front ends list the models first, to check the connection and offer one to pick.
        """
        return {"object": "list", "data": [model(MODEL)]}


@chat.route("/models/<path:name>")
class Model(MethodView):
    @chat.response(200, ModelSchema)
    def get(self, name: str) -> Any:
        """One model by name: any name, since the chat route answers every `model` alike."""
        return model(name)


COMPONENTS = {"ChatCompletionChunk": ChatCompletionChunkSchema}
