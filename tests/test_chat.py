"""POST /v1/chat/completions: the OpenAI chat-completions protocol, plain and streamed, checked
with Flask's client and with the official `openai` client against gunicorn; plus CORS."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from qa.api import create_app
from qa.api.chat import (
    MAX_REPLY_CHARS,
    NO_LOGPROBS,
    NO_TOOL_CALLS,
    STOP_SEQUENCES,
    TEXT_REPLIES_ONLY,
    chat_query,
)
from qa.config import Settings
from qa.schemas import MAX_HISTORY_TURNS
from qa.service import Service
from tests.conftest import FENTANYL_GOLD
from tests.conftest import FENTANYL_QUESTION as FENTANYL
from tests.conftest import FOLLOW_UP_QUESTION as FOLLOW_UP
from tests.conftest import ROBINSON_QUESTION as ROBINSON
from tests.contracts import assert_exact_citations, sse_data

DELISTED = "should be delisted"
# Every field of a chunk, as OpenAI sends it; with stream_options.include_usage, `usage` too.
CHUNK_FIELDS = {"id", "object", "created", "model", "system_fingerprint", "choices"}
BLANK_QUESTION, BLANK = "Length must be between 1 and 1000.", "Must contain more than whitespace."
CONVERSATION = [
    {"role": "system", "content": "You answer questions about news articles."},
    {"role": "user", "content": ROBINSON},
    {"role": "assistant", "content": "Roger Robinson founded the Prague Security Studies Institute. [1]"},
    {"role": "user", "content": FOLLOW_UP},
]


def chat(client, **body: Any):
    return client.post("/v1/chat/completions", json={"model": "gpt-4o", **body})


def test_reply_is_the_answer_with_markers_and_the_citations_of_ask(client) -> None:
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], temperature=0.2, max_tokens=50)
    assert response.status_code == 200
    body = response.get_json()
    assert body["object"] == "chat.completion" and body["model"] == "article-qa"
    assert body["id"].startswith("chatcmpl-") and isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    message = choice["message"]
    ask = client.post("/v1/ask", json={"question": FENTANYL}).get_json()
    assert message == {"role": "assistant", "content": ask["answer"], "citations": ask["citations"], "answerable": True}
    assert "[1]" in message["content"]
    assert_exact_citations(message["citations"])


def test_earlier_messages_are_the_history_and_the_replies_what_was_told(client, service: Service, monkeypatch) -> None:
    asked: list[Any] = []
    ask_many = service.ask_many

    def recording_ask_many(queries):
        asked.extend(queries)
        return ask_many(queries)

    monkeypatch.setattr(service, "ask_many", recording_ask_many)
    message = chat(client, messages=CONVERSATION).get_json()["choices"][0]["message"]
    (query,) = asked
    # The system message is read past; the assistant's answer is told, without its marker.
    assert (query.question, query.history, query.told) == (
        FOLLOW_UP,
        (ROBINSON,),
        ("Roger Robinson founded the Prague Security Studies Institute.",),
    )
    assert DELISTED in message["citations"][0]["quote"]
    assert "[1]" in message["content"]


def test_tell_me_more_cites_what_the_last_reply_did_not(client) -> None:
    # "Tell me more." after the reply about Roger Robinson was declined (its words name nothing);
    # answered from his question alone, it would repeat the sentence just quoted.
    who = [{"role": "user", "content": "Who is Roger Robinson?"}]
    first = chat(client, messages=who).get_json()["choices"][0]["message"]
    more = [*who, {"role": "assistant", "content": first["content"]}, {"role": "user", "content": "Tell me more."}]
    reply = chat(client, messages=more).get_json()["choices"][0]["message"]
    assert reply["answerable"]
    told = {(c["start"], c["end"]) for c in first["citations"][:1]}
    assert told.isdisjoint((c["start"], c["end"]) for c in reply["citations"])
    # A sentence next to the one quoted, in the same paragraph.
    neighbours = ("China’s continuing malign activities in the US market", "According to a Reuters report")
    assert reply["citations"][0]["quote"].startswith(neighbours)
    assert_exact_citations(reply["citations"])


def test_tell_me_more_again_and_again_keeps_citing_what_no_reply_did(client) -> None:
    # Only the reply just before the question was history, so a second "Tell me more." cited the
    # first answer again, and the conversation went back and forth between two answers.
    messages: list[dict[str, str]] = [{"role": "user", "content": FENTANYL}]
    quoted: list[str] = []
    for _ in range(3):
        reply = chat(client, messages=messages).get_json()["choices"][0]["message"]
        first = reply["citations"][0]["quote"]
        assert reply["answerable"] and not any(first in earlier for earlier in quoted)
        quoted.append(reply["content"])
        messages += [{"role": "assistant", "content": reply["content"]}, {"role": "user", "content": "Tell me more."}]


def test_tell_me_more_after_a_pronoun_follow_up_is_about_whom_the_pronoun_named(client) -> None:
    # "Tell me more." after "Who boasted about the tunnels?" and "What is his job?" was declined
    # twice in a row (0.01): it was searched as "What is his job?" with "his" unresolved.
    messages: list[dict[str, str]] = []
    for turn in ("Who boasted about the tunnels?", "What is his job?", "Tell me more."):
        messages.append({"role": "user", "content": turn})
        reply = chat(client, messages=messages).get_json()["choices"][0]["message"]
        assert reply["answerable"], turn
        messages.append({"role": "assistant", "content": reply["content"]})
    assert "Mohammad Bagheri" not in reply["citations"][0]["quote"]  # told twice already
    assert_exact_citations(reply["citations"])


def test_content_parts_are_read_as_text(client) -> None:
    parts = [{"type": "text", "text": FENTANYL}, {"type": "image_url", "image_url": {"url": "data:,"}}]
    plain = chat(client, messages=[{"role": "user", "content": FENTANYL}]).get_json()
    with_parts = chat(client, messages=[{"role": "user", "content": parts}]).get_json()
    assert with_parts["choices"][0]["message"] == plain["choices"][0]["message"]


def test_stream_is_server_sent_chunks_ending_with_done(client) -> None:
    messages = [{"role": "user", "content": FENTANYL}]
    response = chat(client, messages=messages, stream=True)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    data = sse_data(response.get_data(as_text=True))
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert len(chunks) > 3
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    whole = chat(client, messages=messages).get_json()["choices"][0]["message"]
    assert "".join(d.get("content", "") for d in deltas) == whole["content"]
    assert deltas[-1] == {"citations": whole["citations"], "answerable": True}
    assert all(set(c) == CHUNK_FIELDS for c in chunks), "usage only when stream_options asks for it"


def word_pieces(service: Service, text: str) -> int:
    """What the embedding model's own tokenizer makes of `text`, special tokens left out."""
    return len(service.embedder.model.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_a_reply_counts_its_tokens_with_the_embedding_model_s_tokenizer(client, service: Service) -> None:
    """No reply had `usage`, which front ends and the official client read to meter a conversation."""
    reply = chat(client, messages=CONVERSATION).get_json()
    content = reply["choices"][0]["message"]["content"]
    asked = chat_query(CONVERSATION, 3)
    prompt = sum(word_pieces(service, text) for text in (*asked.history, asked.question))
    completion = word_pieces(service, content)
    assert reply["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    assert prompt > word_pieces(service, FOLLOW_UP) and completion > 10


def test_a_stream_asked_to_include_usage_ends_with_a_usage_chunk_of_no_choices(client) -> None:
    """Every chunk before the usage chunk carries `"usage": null`, as OpenAI sends them; they had no `usage`."""
    messages = [{"role": "user", "content": FENTANYL}]
    response = chat(client, messages=messages, stream=True, stream_options={"include_usage": True})
    data = sse_data(response.get_data(as_text=True))
    assert data[-1] == "[DONE]"
    *chunks, last = [json.loads(item) for item in data[:-1]]
    assert set(last) == {*CHUNK_FIELDS, "usage"} and last["choices"] == []
    assert last["object"] == "chat.completion.chunk" and last["id"] == chunks[0]["id"]
    assert last["usage"] == chat(client, messages=messages).get_json()["usage"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(set(c) == {*CHUNK_FIELDS, "usage"} and c["usage"] is None for c in chunks)
    declined = chat(client, messages=messages, stream=True, stream_options={"include_usage": False})
    assert all(set(json.loads(item)) == CHUNK_FIELDS for item in sse_data(declined.get_data(as_text=True))[:-1])


@pytest.mark.parametrize("n", [2, 0, 5])
def test_more_than_one_choice_is_a_400_naming_n(client, n: int) -> None:
    """`n: 2` was read past and one choice given, as if the client had asked for one."""
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], n=n)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"] == {"n": ["Only one choice is given: n must be 1 (or null)."]}


@pytest.mark.parametrize("n", [1, None])
def test_n_of_one_or_null_is_one_choice(client, n: int | None) -> None:
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], n=n)
    assert response.status_code == 200 and len(response.get_json()["choices"]) == 1


@pytest.mark.parametrize("stream", [{}, {"stream": False}, {"stream": None}], ids=["absent", "false", "null"])
@pytest.mark.parametrize("options", [{"include_usage": True}, {}])
def test_stream_options_without_stream_is_a_400_naming_them(
    client, stream: dict[str, Any], options: dict[str, Any]
) -> None:
    """`stream_options` for a plain reply was read past, where OpenAI answers 400: only a stream has them."""
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], stream_options=options, **stream)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_request"
    assert error["fields"] == {"stream_options": ["Only allowed when stream is true (else absent or null)."]}


def test_null_stream_options_without_stream_is_a_plain_reply(client) -> None:
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], stream_options=None)
    assert response.status_code == 200 and response.get_json()["object"] == "chat.completion"


NO_TEXT_PART = "Holds no part of type 'text': this service reads text only."


@pytest.mark.parametrize(
    "messages, fields",
    [
        ([{"role": "system", "content": "Be brief."}], {"messages": ["Must contain a message with the role 'user'."]}),
        (
            [{"role": "user", "content": FENTANYL}, {"role": "user", "content": "  "}],
            {"messages": {"1": {"content": ["Must contain more than whitespace."]}}},
        ),
        (
            [{"role": "robot", "content": FENTANYL}],
            {"messages": {"0": {"role": ["Must be one of: system, developer, user, assistant, tool, function."]}}},
        ),
        ([], {"messages": ["Shorter than minimum length 1."]}),
        (
            [{"role": "system", "content": {"a": 1}}, {"role": "user", "content": FENTANYL}],
            {"messages": {"0": {"content": ["Must be a string or a list of content parts."]}}},
        ),
        # Both were told "Length must be between 1 and 1000." and "Must contain more than
        # whitespace.", which says nothing of what was wrong with the parts.
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}],
            {"messages": {"0": {"content": [NO_TEXT_PART]}}},
        ),
        (
            [{"role": "user", "content": [{"type": "input_text", "text": FENTANYL}]}],
            {"messages": {"0": {"content": [NO_TEXT_PART]}}},
        ),
        (
            [{"role": "assistant", "content": [{"type": "text", "text": 5}]}, {"role": "user", "content": FENTANYL}],
            {"messages": {"0": {"content": ["A part of type 'text' must have its 'text' as a string."]}}},
        ),
    ],
)
def test_invalid_conversations_are_400_with_fields(client, messages: list[Any], fields: Any) -> None:
    response = chat(client, messages=messages)
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == fields


@pytest.mark.parametrize(
    "extra, fields",
    [
        ({"top_k": 3.5}, {"top_k": ["Not a valid integer."]}),
        ({"top_k": "2"}, {"top_k": ["Not a valid integer."]}),
        ({"stream": "yes"}, {"stream": ["Not a valid boolean."]}),
        ({"stream": 1}, {"stream": ["Not a valid boolean."]}),
        ({"n": "2"}, {"n": ["Not a valid integer."]}),
        (
            {"stream": True, "stream_options": {"include_usage": "yes"}},
            {"stream_options": {"include_usage": ["Not a valid boolean."]}},
        ),
        ({"stream_options": [1]}, {"stream_options": {"_schema": ["Invalid input type."]}}),
    ],
)
def test_parameters_of_the_wrong_json_type_are_400(client, extra: dict[str, Any], fields: Any) -> None:
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], **extra)
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == fields


FENTANYL_ASKED = [{"role": "user", "content": FENTANYL}]


@pytest.mark.parametrize("limit", [{"max_tokens": 5}, {"max_completion_tokens": 5, "max_tokens": 500}])
def test_max_tokens_cuts_the_reply_and_says_so_in_the_finish_reason(client, service: Service, limit) -> None:
    """`max_tokens` was read past: 37 tokens came back for a limit of 5, with finish_reason "stop"."""
    whole = chat(client, messages=FENTANYL_ASKED).get_json()
    cut = chat(client, messages=FENTANYL_ASKED, **limit).get_json()
    content = cut["choices"][0]["message"]["content"]
    assert content == "The talks covered a broad" and whole["choices"][0]["message"]["content"].startswith(content)
    assert word_pieces(service, content) == 5 == cut["usage"]["completion_tokens"]
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["choices"][0]["message"]["citations"] == whole["choices"][0]["message"]["citations"]
    stream = chat(client, messages=FENTANYL_ASKED, stream=True, **limit).get_data(as_text=True)
    chunks = [json.loads(item) for item in sse_data(stream)[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == content
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    roomy = chat(client, messages=FENTANYL_ASKED, max_tokens=whole["usage"]["completion_tokens"]).get_json()
    assert roomy["choices"][0] == whole["choices"][0], "a limit the reply fits is no cut"


@pytest.mark.parametrize("stop", ["synthetic", ["nowhere", " synthetic", "drugs"]])
def test_stop_ends_the_reply_before_the_first_stop_sequence(client, stop: str | list[str]) -> None:
    reply = chat(client, messages=FENTANYL_ASKED, stop=stop).get_json()
    content = reply["choices"][0]["message"]["content"]
    # Cut exactly where the sequence begins: the space before "synthetic" is kept, as OpenAI keeps it.
    ending = "the global flow of " if stop == "synthetic" else "the global flow of"
    assert content.endswith(ending) and "synthetic" not in content
    assert reply["choices"][0]["finish_reason"] == "stop"
    assert (
        chat(client, messages=FENTANYL_ASKED, stop="nowhere").get_json()["choices"][0]["message"]["content"]
        == (chat(client, messages=FENTANYL_ASKED).get_json()["choices"][0]["message"]["content"])
    )


@pytest.mark.parametrize(
    "extra, fields",
    [
        # Each was read past and answered in prose: a client asking for JSON or a tool call took it as its own failure.
        ({"response_format": {"type": "json_object"}}, {"response_format": {"type": [TEXT_REPLIES_ONLY]}}),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}}},
            {"response_format": {"type": [TEXT_REPLIES_ONLY]}},
        ),
        ({"tool_choice": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}, None),
        ({"tool_choice": {"type": "function", "function": {"name": "f"}}}, None),
        ({"function_call": {"name": "f"}}, {"function_call": [NO_TOOL_CALLS]}),
        ({"logprobs": True}, {"logprobs": [NO_LOGPROBS]}),
        # ... and these were taken whatever their type.
        ({"temperature": "hot"}, {"temperature": ["Not a valid number."]}),
        ({"temperature": True}, {"temperature": ["Not a valid number."]}),
        ({"top_p": 1.5}, {"top_p": ["Must be greater than or equal to 0 and less than or equal to 1."]}),
        ({"max_tokens": -1}, {"max_tokens": ["Must be greater than or equal to 1."]}),
        ({"max_completion_tokens": 2.5}, {"max_completion_tokens": ["Not a valid integer."]}),
        ({"stop": 5}, {"stop": [STOP_SEQUENCES]}),
        ({"stop": ["a", "b", "c", "d", "e"]}, {"stop": [STOP_SEQUENCES]}),
        ({"stop": [""]}, {"stop": [STOP_SEQUENCES]}),
        ({"seed": "7"}, {"seed": ["Not a valid integer."]}),
        ({"tools": {"type": "function"}}, {"tools": ["Not a valid list."]}),
    ],
)
def test_what_a_reply_cannot_be_and_mistyped_parameters_are_400(client, extra: dict[str, Any], fields: Any) -> None:
    response = chat(client, messages=FENTANYL_ASKED, **extra)
    assert response.status_code == 400
    expected = fields or {"tool_choice": [NO_TOOL_CALLS]}
    assert response.get_json()["error"]["fields"] == expected


@pytest.mark.parametrize(
    "extra",
    [
        {"response_format": {"type": "text"}},
        {"tool_choice": "auto", "tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "none", "parallel_tool_calls": False},
        {"logprobs": False, "top_logprobs": 0},
        {"temperature": 0, "top_p": 1, "presence_penalty": -2, "frequency_penalty": 2, "seed": 7, "user": "u1"},
        {"temperature": None, "stop": None, "max_tokens": None, "response_format": None, "tool_choice": None},
    ],
)
def test_what_a_plain_answer_satisfies_is_answered(client, extra: dict[str, Any]) -> None:
    response = chat(client, messages=FENTANYL_ASKED, **extra)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["choices"][0]["finish_reason"] == "stop"


def test_errors_carry_openai_s_type_and_param_and_the_problem_in_the_message(settings: Settings, service) -> None:
    """The official client raises an exception of the error's `message` alone, and front ends show
    only that: "The request is not valid; see fields." told a user nothing of `n=2`."""
    client = create_app(settings, service).test_client()
    error = chat(client, messages=FENTANYL_ASKED, n=2).get_json()["error"]
    assert error == {
        "code": "invalid_request",
        "message": "The request is not valid; n: Only one choice is given: n must be 1 (or null).",
        "fields": {"n": ["Only one choice is given: n must be 1 (or null)."]},
        "type": "invalid_request_error",
        "param": "n",
    }
    nested = chat(client, messages=[*FENTANYL_ASKED, {"role": "user", "content": " "}]).get_json()["error"]
    assert nested["param"] == "messages.1.content"
    assert nested["message"] == "The request is not valid; messages.1.content: Must contain more than whitespace."
    private = create_app(settings.with_overrides(api_keys=("k",), read_requires_key=True), service).test_client()
    refused = private.get("/v1/models").get_json()["error"]
    assert (refused["type"], refused["param"]) == ("authentication_error", None)
    unknown = chat(client, messages=FENTANYL_ASKED, doc_ids=["gone"]).get_json()["error"]
    assert (unknown["code"], unknown["param"]) == ("unknown_documents", "doc_ids")
    assert unknown["message"] == "The archive holds no document with the id 'gone'.", "already says what is wrong"
    # Only the OpenAI-compatible routes: /v1/ask keeps its own shape.
    ask = client.post("/v1/ask", json={"question": " "}).get_json()["error"]
    assert set(ask) == {"code", "message", "fields"} and ask["message"] == "The request is not valid; see fields."


def test_cors_allows_only_configured_origins(settings: Settings, service: Service, client) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    allowed = create_app(settings.with_overrides(cors_origins=("https://chat.example",)), service).test_client()
    ok = allowed.options("/v1/chat/completions", headers={"Origin": "https://chat.example", **preflight})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://chat.example"
    assert "authorization" in ok.headers["Access-Control-Allow-Headers"].lower()
    # What the routes answer, not flask-cors's default list (which has PATCH).
    assert set(ok.headers["Access-Control-Allow-Methods"].split(", ")) == {
        "DELETE",
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
        "PUT",
    }
    other = allowed.options("/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in other.headers
    answered = allowed.post(
        "/v1/chat/completions",
        headers={"Origin": "https://chat.example"},
        json={"messages": [{"role": "user", "content": FENTANYL}]},
    )
    assert answered.headers["Access-Control-Allow-Origin"] == "https://chat.example"
    # No origins configured (the default): no cross-origin access at all.
    default = client.options("/v1/chat/completions", headers={"Origin": "https://chat.example", **preflight})
    assert "Access-Control-Allow-Origin" not in default.headers


@pytest.fixture()
def openai_client(live_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.mark.slow
def test_openai_client_gets_answer_and_citations(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model="any-model", messages=[{"role": "user", "content": FENTANYL}]
    )
    assert completion.model == "article-qa"
    message = completion.choices[0].message
    assert message.role == "assistant" and "[1]" in (message.content or "")
    citations = message.model_extra["citations"]
    assert "fentanyl crisis" in citations[0]["quote"]
    assert_exact_citations(citations)


@pytest.mark.slow
def test_openai_client_streams_and_gets_citations_last(openai_client: openai.OpenAI) -> None:
    stream = openai_client.chat.completions.create(
        model="any-model", messages=[{"role": "user", "content": FENTANYL}], stream=True
    )
    chunks = list(stream)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    whole = openai_client.chat.completions.create(model="any-model", messages=[{"role": "user", "content": FENTANYL}])
    assert len(chunks) > 3 and text == whole.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    citations = chunks[-1].choices[0].delta.model_extra["citations"]
    assert citations == whole.choices[0].message.model_extra["citations"]
    assert_exact_citations(citations)


@pytest.mark.slow
def test_openai_client_reads_the_usage_of_a_reply_and_of_a_stream(openai_client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": FENTANYL}]
    whole = openai_client.chat.completions.create(model="any-model", messages=messages)
    assert (
        whole.usage is not None
        and whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
    )
    stream = openai_client.chat.completions.create(
        model="any-model", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


@pytest.mark.slow
def test_openai_client_follow_up_is_answered_from_the_right_sentence(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(model="any-model", messages=CONVERSATION)
    citations = completion.choices[0].message.model_extra["citations"]
    assert DELISTED in citations[0]["quote"]
    assert_exact_citations(citations)


@pytest.mark.slow
def test_openai_client_sees_a_bad_request_as_its_error(openai_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(model="any-model", messages=[{"role": "user", "content": " "}])
    assert raised.value.status_code == 400
    assert "not valid" in raised.value.message
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(model="any-model", messages=FENTANYL_ASKED, n=2)
    assert (raised.value.param, raised.value.type) == ("n", "invalid_request_error")
    assert "n must be 1" in str(raised.value)
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client.chat.completions.create(
            model="any-model", messages=FENTANYL_ASKED, response_format={"type": "json_object"}
        )
    assert raised.value.param == "response_format.type"


@pytest.mark.slow
def test_openai_client_reads_a_cut_reply_as_cut(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(model="any-model", messages=FENTANYL_ASKED, max_tokens=5)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 5


def test_a_declined_question_says_so_in_the_message_and_in_the_final_chunk(client) -> None:
    messages = [{"role": "user", "content": "What is the capital of Australia?"}]
    message = chat(client, messages=messages).get_json()["choices"][0]["message"]
    assert (message["answerable"], message["citations"]) == (False, [])
    data = sse_data(chat(client, messages=messages, stream=True).get_data(as_text=True))
    final = json.loads(data[-2])["choices"][0]
    assert final["finish_reason"] == "stop" and final["delta"] == {"citations": [], "answerable": False}


def test_replies_are_told_without_markers_and_cut_and_only_questions_are_history() -> None:
    long_answer = "Robinson said they should be delisted. [1] " + "More. [2] " * 1000
    messages = [
        *({"role": "user", "content": f"question {n}"} for n in range(25)),
        {"role": "assistant", "content": long_answer},
        {"role": "user", "content": "Tell me more."},
    ]
    query = chat_query(messages, top_k=3)
    (told,) = query.told
    assert told.startswith("Robinson said they should be delisted. More.") and "[" not in told
    assert len(told) <= MAX_REPLY_CHARS
    # At most MAX_HISTORY_TURNS questions, the oldest dropped.
    assert list(query.history) == [f"question {n}" for n in range(5, 25)]
    assert len(query.history) == MAX_HISTORY_TURNS


def follow_up_reply(client, question: str, follow_up: str) -> dict[str, Any]:
    """The chat's reply to `follow_up`, asked after `question` and the chat's own reply to it."""
    asked = [{"role": "user", "content": question}]
    first = chat(client, messages=asked).get_json()["choices"][0]["message"]
    follow = [*asked, {"role": "assistant", "content": first["content"]}, {"role": "user", "content": follow_up}]
    return chat(client, messages=follow).get_json()["choices"][0]["message"]


def test_he_after_who_did_is_the_person_the_reply_named(client) -> None:
    reply = follow_up_reply(client, "Who boasted about the tunnels?", "What is his job?")
    assert reply["answerable"] and "Chief of Staff Mohammad Bagheri" in reply["citations"][0]["quote"]


def test_a_null_content_reads_as_blank_also_in_the_reply_before_the_question(client) -> None:
    # The protocol's assistant turn that only calls a tool has `"content": null`; just before the
    # question it was history to strip of markers, and the server failed with a 500.
    messages = [
        {"role": "user", "content": ROBINSON},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]},
        {"role": "user", "content": FENTANYL},
    ]
    response = chat(client, messages=messages)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert FENTANYL_GOLD in response.get_json()["choices"][0]["message"]["citations"][0]["quote"]
    # A user message with null content is a blank question, as the README says, not "may not be null".
    response = chat(client, messages=[{"role": "user", "content": None}])
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"messages": {"0": {"content": [BLANK_QUESTION, BLANK]}}}


def test_an_assistant_message_before_an_earlier_question_is_not_history() -> None:
    messages = [
        {"role": "assistant", "content": "Hello, ask me about the articles."},
        {"role": "user", "content": ROBINSON},
        {"role": "user", "content": FOLLOW_UP},
    ]
    assert chat_query(messages, top_k=3).history == (ROBINSON,)


@pytest.mark.slow
def test_openai_client_lists_and_retrieves_the_model(openai_client: openai.OpenAI) -> None:
    """Chat front ends ask `GET /v1/models` first, to check the connection and offer a model to
    pick; it was a 404, so they reported the server as unreachable and offered nothing."""
    (model,) = openai_client.models.list().data
    assert (model.id, model.object, model.owned_by) == ("article-qa", "model", "article-qa")
    assert isinstance(model.created, int)
    # Any name is answered by the one model (the chat route takes any `model`), so any name is found.
    assert openai_client.models.retrieve("gpt-4o").id == "gpt-4o"


def test_the_models_follow_the_read_key(settings: Settings, service: Service) -> None:
    private = create_app(settings.with_overrides(api_keys=("k",), read_requires_key=True), service).test_client()
    assert private.get("/v1/models").status_code == 401
    listed = private.get("/v1/models", headers={"Authorization": "Bearer k"})
    assert listed.status_code == 200 and listed.get_json()["object"] == "list"


def test_a_null_stream_is_the_protocol_s_default_a_plain_reply(client) -> None:
    """The protocol's `stream` is a boolean or null (its default, false); null was a 400 "Field may
    not be null", which is what the official client sends for `stream=None`."""
    response = chat(client, messages=[{"role": "user", "content": FENTANYL}], stream=None)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.get_json()["object"] == "chat.completion"


@pytest.mark.slow
def test_openai_client_with_stream_none_gets_a_reply(openai_client: openai.OpenAI) -> None:
    completion = openai_client.chat.completions.create(
        model="any-model", messages=[{"role": "user", "content": FENTANYL}], stream=None
    )
    assert "fentanyl crisis" in completion.choices[0].message.model_extra["citations"][0]["quote"]
