"""`POST /v1/chat/completions`: the OpenAI chat-completions protocol, so chatbot front ends and
the official clients can talk to the service unchanged.

The last user message is the question and the earlier user messages are its history; the
assistant's replies (without their [n] markers) are what the conversation was told: whom "he"
means, and what "Tell me more." must not repeat. System messages are read past,
though their content, as every message's, must be text or content parts (else a 400).
The reply's content is the answer with its `[n]` markers; the citations ride along in an extra
`citations` field of the message, or, when streaming, of the final chunk's delta. Parameters such
as `temperature` are accepted and ignored: there is no sampling to tune.
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
from flask.views import MethodView
from marshmallow import fields, validate

from qa.answering import Answer
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
    Text,
    answer_to_dict,
    doc_ids_field,
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


ONE_CHOICE = "Only one choice is given: n must be 1 (or null)."
STREAM_OPTIONS_ALONE = "Only allowed when stream is true (else absent or null)."


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
        unknown = ma.EXCLUDE  # temperature, max_tokens, user... are accepted and ignored

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

    @ma.validates_schema
    def stream_options_need_a_stream(self, data: dict[str, Any], **_: Any) -> None:
        """As OpenAI: options for a stream asked of a plain reply are refused, not read past."""
        if data["stream_options"] is not None and data["stream"] is not True:
            raise ma.ValidationError(STREAM_OPTIONS_ALONE, "stream_options")

    @ma.post_load
    def to_chat_request(self, data: dict[str, Any], **_: Any) -> ChatRequest:
        include_usage = (data["stream_options"] or {}).get("include_usage") is True
        query = chat_query(data["messages"], data["top_k"], data["doc_ids"])
        return ChatRequest(query, data["stream"] is True, include_usage)


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


def usage(query: Query, answer: Answer, count: Callable[[str], int]) -> dict[str, int]:
    """Tokens as the protocol reports them, counted by `count` (the embedding model's tokenizer):
    the question and the history it was asked with in, the reply's content out."""
    prompt = sum(count(text) for text in (*query.history, query.question))
    reply = count(answer.answer)
    return {"prompt_tokens": prompt, "completion_tokens": reply, "total_tokens": prompt + reply}


def completion(answer: Answer, tokens: dict[str, int]) -> dict[str, Any]:
    reply = {
        "role": "assistant",
        "content": answer.answer,
        "citations": answer_to_dict(answer)["citations"],
        "answerable": answer.answerable,
    }
    return {
        **_envelope("chat.completion", answer),
        "choices": [{"index": 0, "message": reply, "finish_reason": "stop"}],
        "usage": tokens,
    }


def completion_chunks(answer: Answer, tokens: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """The role, then the answer a word at a time, then the citations and whether the question was
    answered (so a client never has to recognise a declined answer by its words), finish_reason 'stop';
    with `tokens`, a last chunk of empty `choices` carrying them as `usage`, and `"usage": null` in
    every chunk before it, as OpenAI sends them."""
    envelope = _envelope("chat.completion.chunk", answer)
    if tokens is not None:
        envelope["usage"] = None
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": word} for word in re.findall(r"\s*\S+", answer.answer)]
    for delta in deltas:
        yield {**envelope, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    final = {"citations": answer_to_dict(answer)["citations"], "answerable": answer.answerable}
    yield {**envelope, "choices": [{"index": 0, "delta": final, "finish_reason": "stop"}]}
    if tokens is not None:
        yield {**envelope, "choices": [], "usage": tokens}


def server_sent_events(chunks: Iterator[dict[str, Any]]) -> Iterator[str]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


chat = Blueprint("chat", __name__, url_prefix="/v1", description="OpenAI-compatible chat completions.")
chat.before_request(require_read_key)
chat.before_request(require_json_body)


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
        if chat_request.stream:
            tokens = usage(query, answer, qa.embedder.count_tokens) if chat_request.include_usage else None
            return streamed(server_sent_events(completion_chunks(answer, tokens)), EVENT_STREAM)
        return completion(answer, usage(query, answer, qa.embedder.count_tokens))


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
