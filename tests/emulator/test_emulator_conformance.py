"""Conformance suite (docs/sendgrid.md §10) with the REAL `sendgrid` client against the emulator."""

from __future__ import annotations

import base64
import copy
import json
import socket
import urllib.error

import pytest
from python_http_client import exceptions as sg_exc
from sendgrid.helpers.mail import Content, Email, Mail, To

from newsletter.emulator import EmulatorConfig, RateLimit
from newsletter.emulator.testing import KEY, client_for, make_mail


def error_fields(exc: sg_exc.HTTPError) -> list[str | None]:
    return [e["field"] for e in json.loads(exc.body)["errors"]]


# -- 1. accepted, sandbox ----------------------------------------------------------------
def test_mail_helper_send_is_accepted_with_message_id(shared_emu):
    sg = client_for(shared_emu)
    message = Mail(
        from_email=Email("news@clinic.example"),
        to_emails=To("helper@example.org"),
        subject="Hello",
        plain_text_content=Content("text/plain", "Hi there"),
        html_content=Content("text/html", "<p>Hi there</p>"),
    )
    response = sg.send(message)
    assert response.status_code == 202
    assert response.body == b""
    xmid = response.headers["X-Message-Id"]
    assert len(xmid) == 22
    assert len(base64.urlsafe_b64decode(xmid + "==")) == 16
    [msg] = shared_emu.messages_to("helper@example.org")
    assert msg["x_message_id"] == xmid
    assert msg["sg_message_id"] == f"{xmid}.emulator-0-0.0"


def test_message_ids_are_unique(shared_emu):
    sg = client_for(shared_emu)
    ids = {sg.send(make_mail("uniq@example.org")).headers["X-Message-Id"] for _ in range(5)}
    assert len(ids) == 5


def test_sandbox_returns_200_records_nothing_and_emits_no_events(emu, receiver):
    sg = client_for(emu)
    body = make_mail("sandbox@example.org", mail_settings={"sandbox_mode": {"enable": True}})
    response = sg.send(body)
    assert response.status_code == 200
    assert response.body == b""
    assert emu.messages_to("sandbox@example.org") == []
    assert emu.stats()["sandbox_requests"] == 1
    assert emu.stats()["accepted_recipients"] == 0
    emu.flush_webhook()
    assert receiver.posts == []
    assert emu.stats()["webhook"]["events_queued"] == 0


def test_sandbox_is_still_validated(shared_emu):
    body = make_mail("bad-address", mail_settings={"sandbox_mode": {"enable": True}})
    with pytest.raises(sg_exc.BadRequestsError) as info:
        client_for(shared_emu).send(body)
    assert error_fields(info.value) == ["personalizations.0.to.0.email"]


# -- 1b. every validation rule --------------------------------------------------------------------
def _set(path: str, value):
    def mutate(body):
        *parents, last = path.split(".")
        node = body
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return body

    return mutate


def _delete(key: str):
    def mutate(body):
        body.pop(key)
        return body

    return mutate


def _many(n: int, cc_on_first: bool = False):
    def mutate(body):
        body["personalizations"] = [{"to": [{"email": f"r{i}@example.org"}]} for i in range(n)]
        if cc_on_first:
            body["personalizations"][0]["cc"] = [{"email": "extra@example.org"}]
        return body

    return mutate


def _p(key: str, value):
    return _set(f"personalizations.0.{key}", value)


P0 = "personalizations.0"
CASES = [
    ("V1 missing", _delete("personalizations"), "personalizations"),
    ("V1 empty", _set("personalizations", []), "personalizations"),
    ("V2 1001 personalizations", _many(1001), "personalizations"),
    ("V3 1001 recipients", _many(1000, cc_on_first=True), "personalizations"),
    ("V4 no to", _p("to", []), f"{P0}.to"),
    ("V5 bad to", _p("to", [{"email": "not-an-address"}]), f"{P0}.to.0.email"),
    ("V5 bad cc", _p("cc", [{"email": "x@"}]), f"{P0}.cc.0.email"),
    ("V5 bad bcc", _p("bcc", [{"email": "ok@example.org"}, {"email": "a b@c.d"}]),
     f"{P0}.bcc.1.email"),
    ("V6 duplicate", _p("bcc", [{"email": "ANA@example.org"}]), P0),
    ("V7 from missing", _delete("from"), "from"),
    ("V8 from invalid", _set("from", {"email": "news"}), "from.email"),
    ("V8 from unicode", _set("from", {"email": "nëws@clinic.example"}), "from.email"),
    ("V9 no subject", _delete("subject"), "subject"),
    ("V10 empty subject", _p("subject", ""), f"{P0}.subject"),
    ("V10 non-string subject", _p("subject", 5), f"{P0}.subject"),
    ("V11 no content", _delete("content"), "content"),
    ("V12 content not array", _set("content", "hello"), "content"),
    ("V13 empty value", _set("content.0.value", ""), "content.0.value"),
    ("V14 bad type", _set("content.1.type", "text/html; charset=utf-8"), "content.1.type"),
    ("V15 wrong order", _set("content", [{"type": "text/html", "value": "<p>x</p>"},
                                          {"type": "text/plain", "value": "x"}]), "content"),
    ("V16 too many categories", _set("categories", [f"c{i}" for i in range(11)]), "categories"),
    ("V16 long category", _set("categories", ["x" * 256]), "categories"),
    ("V16 duplicate category", _set("categories", ["a", "a"]), "categories"),
    ("V16 non-ascii category", _set("categories", ["naïve"]), "categories"),
    ("V16 non-string category", _set("categories", [1]), "categories"),
    ("V17 custom_args non-string", _p("custom_args", {"send_id": 1}), f"{P0}.custom_args"),
    ("V18 custom_args empty", _p("custom_args", {}), f"{P0}.custom_args"),
    ("V18 top custom_args empty", _set("custom_args", {}), "custom_args"),
    ("V19 custom_args too big", _p("custom_args", {"a": "x" * 10_000}), f"{P0}.custom_args"),
    ("V20 header non-string", _p("headers", {"X-A": 1}), f"{P0}.headers"),
    ("V20 header reserved", _set("headers", {"Reply-To": "x@example.org"}), "headers"),
    ("V20 header bad key", _set("headers", {"X Bad": "1"}), "headers"),
    ("V20 header duplicate", _p("headers", {"X-A": "1", "x-a": "2"}), f"{P0}.headers"),
    ("V21 send_at not int", _set("send_at", "1700000000"), "send_at"),
    ("V22 send_at too far", _p("send_at", 4_000_000_000), f"{P0}.send_at"),
    ("V23 substitution non-string", _p("substitutions", {"-x-": 1}), f"{P0}.substitutions"),
    ("V23 > 150 keys", _p("substitutions", {f"-k{i}-": "v" for i in range(151)}),
     f"{P0}.substitutions"),
    ("V23 > 10,000 bytes", _p("substitutions", {"-k-": "é" * 5000}), f"{P0}.substitutions"),
    ("V24 batch_id", _set("batch_id", 12), "batch_id"),
    ("V25 asm unknown group", _set("asm", {"group_id": 999}), "asm.group_id"),
    ("V26 groups_to_display", _set("asm", {"group_id": 7, "groups_to_display": list(range(26))}),
     "asm.groups_to_display"),
    ("V27 reply_to invalid", _set("reply_to", {"email": "nope"}), "reply_to"),
    ("V27 reply_to with list", _set("reply_to_list", [{"email": "a@example.org"}]), "reply_to"),
    ("V28 template_id", _set("template_id", "d-unknown"), "template_id"),
    ("V29 enable not bool", _set("mail_settings", {"sandbox_mode": {"enable": "true"}}),
     "mail_settings.sandbox_mode.enable"),
    ("V29 tracking enable", _set("tracking_settings.open_tracking", {"enable": 0}),
     "tracking_settings.open_tracking.enable"),
    ("V30 attachment not base64", _set("attachments", [{"content": "%%%", "filename": "a.txt"}]),
     "attachments.0.content"),
    ("V30 attachment no filename", _set("attachments", [{"content": "aGk="}]),
     "attachments.0.filename"),
    ("V30 attachment disposition", _set("attachments", [{"content": "aGk=", "filename": "a",
                                                         "disposition": "weird"}]),
     "attachments.0.disposition"),
    ("V31 ip pool", _set("ip_pool_name", "no-such-pool"), "ip_pool_name"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_validation_rule_raises_bad_request_with_field(shared_emu, mutate, field):
    body = mutate(copy.deepcopy(make_mail()))
    with pytest.raises(sg_exc.BadRequestsError) as info:
        client_for(shared_emu).send(body)
    assert info.value.status_code == 400
    assert field in error_fields(info.value)
    assert all(
        set(e) >= {"message", "field", "help"} for e in json.loads(info.value.body)["errors"]
    )


def test_observed_messages(shared_emu):
    sg = client_for(shared_emu)
    with pytest.raises(sg_exc.BadRequestsError) as info:
        sg.send(make_mail("not-an-address"))
    [error] = json.loads(info.value.body)["errors"]
    assert error == {"message": "Does not contain a valid address.",
                     "field": "personalizations.0.to.0.email", "help": None}  # fmt: skip


def test_several_bad_fields_give_several_errors_in_document_order(shared_emu):
    body = make_mail("ok@example.org", "bad", categories=[1], subject="")
    body["personalizations"][0]["to"].append({"email": "also bad"})
    with pytest.raises(sg_exc.BadRequestsError) as info:
        client_for(shared_emu).send(body)
    assert error_fields(info.value) == [
        "subject",
        "personalizations.0.to.1.email",
        "personalizations.1.to.0.email",
        "categories",
    ]


def test_template_id_skips_content_and_subject_requirements(emu_factory):
    handle = emu_factory(templates={"d-0123456789abcdef"})
    body = make_mail("tpl@example.org", template_id="d-0123456789abcdef")
    del body["content"], body["subject"]
    assert client_for(handle).send(body).status_code == 202


def test_every_personalization_subject_replaces_top_level_subject(shared_emu):
    body = make_mail("s1@example.org", "s2@example.org")
    del body["subject"]
    for i, p in enumerate(body["personalizations"]):
        p["subject"] = f"Own subject {i}"
    assert client_for(shared_emu).send(body).status_code == 202
    assert shared_emu.messages_to("s2@example.org")[0]["subject"] == "Own subject 1"


# -- 3. limits -------------------------------------------------------------------------------------
def test_1000_single_recipient_personalizations_are_accepted(shared_emu):
    body = make_mail(*[f"k{i}@example.org" for i in range(1000)])
    response = client_for(shared_emu).send(body)
    assert response.status_code == 202
    assert shared_emu.messages_to("k999@example.org")[0]["custom_args"] == {"send_id": "send-00999"}


def test_1001_personalizations_are_rejected(shared_emu):
    with pytest.raises(sg_exc.BadRequestsError) as info:
        client_for(shared_emu).send(make_mail(*[f"m{i}@example.org" for i in range(1001)]))
    assert "personalizations" in error_fields(info.value)


def test_999_personalizations_plus_a_cc_make_exactly_1000_recipients_and_pass(shared_emu):
    body = make_mail(*[f"n{i}@example.org" for i in range(999)])
    body["personalizations"][0]["cc"] = [{"email": "n-cc@example.org"}]
    assert client_for(shared_emu).send(body).status_code == 202


def test_1000_personalizations_plus_a_cc_exceed_the_recipient_cap(shared_emu):
    body = make_mail(*[f"q{i}@example.org" for i in range(1000)])
    body["personalizations"][500]["cc"] = [{"email": "q-cc@example.org"}]
    with pytest.raises(sg_exc.BadRequestsError) as info:
        client_for(shared_emu).send(body)
    assert error_fields(info.value) == ["personalizations"]


# -- 2. statuses and the client's exceptions -------------------------------------------------------
def test_unknown_key_is_401_unauthorized(shared_emu):
    with pytest.raises(sg_exc.UnauthorizedError) as info:
        client_for(shared_emu, key="SG.wrong").send(make_mail())
    assert json.loads(info.value.body)["errors"][0]["message"] == (
        "The provided authorization grant is invalid, expired, or revoked"
    )


def test_missing_authorization_is_401(shared_emu):
    import httpx

    resp = httpx.post(shared_emu.base_url + "/v3/mail/send", json=make_mail(), trust_env=False)
    assert resp.status_code == 401
    assert resp.json() == {
        "errors": [{"message": "authorization required", "field": None, "help": None}]
    }


def test_key_without_mail_send_is_403_forbidden(emu_factory):
    handle = emu_factory(api_keys={KEY: {"mail.send"}, "SG.readonly": {"suppression.read"}})
    with pytest.raises(sg_exc.ForbiddenError) as info:
        client_for(handle, key="SG.readonly").send(make_mail())
    assert json.loads(info.value.body)["errors"][0]["message"] == "access forbidden"


def test_unverified_sender_is_403_on_from(emu_factory):
    handle = emu_factory(verified_senders={"news@clinic.example"})
    assert client_for(handle).send(make_mail()).status_code == 202
    with pytest.raises(sg_exc.ForbiddenError) as info:
        client_for(handle).send(make_mail(**{"from": {"email": "other@clinic.example"}}))
    [error] = json.loads(info.value.body)["errors"]
    assert error["field"] == "from"
    assert error["message"].startswith(
        "The from address does not match a verified Sender Identity."
    )


def test_credits_exhausted_is_401_maximum_credits_exceeded(emu_factory):
    handle = emu_factory(credits=3)
    sg = client_for(handle)
    assert sg.send(make_mail("c1@example.org", "c2@example.org")).status_code == 202
    with pytest.raises(sg_exc.UnauthorizedError) as info:
        sg.send(make_mail("c3@example.org", "c4@example.org"))
    assert json.loads(info.value.body)["errors"][0]["message"] == "Maximum credits exceeded"
    assert sg.send(make_mail("c5@example.org")).status_code == 202
    assert handle.stats()["credits_remaining"] == 0


def test_too_large_is_413(emu_factory):
    handle = emu_factory(body_max_bytes=64 * 1024)
    body = make_mail()
    body["content"][0]["value"] = "x" * (70 * 1024)
    with pytest.raises(sg_exc.PayloadTooLargeError) as info:
        client_for(handle).send(body)
    assert json.loads(info.value.body)["errors"][0]["message"] == "content too large"
    assert handle.stats()["accepted_requests"] == 0


def test_invalid_utf8_and_bad_json_are_400_with_null_field(shared_emu):
    import httpx

    # the sendgrid client cannot send invalid UTF-8 (it json.dumps a str), so post raw bytes
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with httpx.Client(base_url=shared_emu.base_url, trust_env=False, headers=headers) as client:
        bad_utf8 = client.post("/v3/mail/send", content=b'{"subject": "\xff"}')
        bad_json = client.post("/v3/mail/send", content=b'{"subject": ')
    assert bad_utf8.status_code == 400
    assert bad_utf8.json() == {
        "errors": [{"message": "Invalid UTF8 in request.", "field": None, "help": None}]
    }
    assert bad_json.status_code == 400
    assert [e["field"] for e in bad_json.json()["errors"]] == [None]


def test_wrong_path_and_method(shared_emu):
    sg = client_for(shared_emu)
    with pytest.raises(sg_exc.NotFoundError):
        sg.client.mail.sendd.post(request_body=make_mail())
    with pytest.raises(sg_exc.MethodNotAllowedError) as info:
        sg.client.mail.send.get()
    assert json.loads(info.value.body)["errors"][0]["message"] == "method not allowed"


def test_rate_limit_429_with_integer_reset_and_headers_on_success(emu_factory):
    handle = emu_factory(rate_limit=RateLimit(limit=2, period_s=60))
    sg = client_for(handle)
    ok = sg.send(make_mail())
    assert ok.status_code == 202
    assert ok.headers["X-RateLimit-Limit"] == "2"
    assert ok.headers["X-RateLimit-Remaining"] == "1"
    sg.send(make_mail())
    with pytest.raises(sg_exc.TooManyRequestsError) as info:
        sg.send(make_mail())
    headers = info.value.headers
    assert headers["X-RateLimit-Limit"] == "2"
    assert headers["X-RateLimit-Remaining"] == "0"
    reset = int(headers["X-RateLimit-Reset"])
    now = handle.emulator.clock.now()
    assert now < reset <= now + 31  # one token every 30 s
    assert json.loads(info.value.body) == {
        "errors": [{"field": None, "message": "too many requests", "help": None}]
    }
    assert handle.stats()["accepted_requests"] == 2


def test_injected_statuses_map_to_client_exceptions(emu_factory):
    handle = emu_factory()
    handle.set_faults(next=[{"status": 429, "reset_in": 5, "retry_after": 5}, 503, 500, 502, 401])
    sg = client_for(handle)
    with pytest.raises(sg_exc.TooManyRequestsError) as info:
        sg.send(make_mail())
    assert int(info.value.headers["X-RateLimit-Reset"]) >= int(handle.emulator.clock.now()) + 4
    assert info.value.headers["Retry-After"] == "5"
    with pytest.raises(sg_exc.ServiceUnavailableError):
        sg.send(make_mail())
    with pytest.raises(sg_exc.InternalServerError):
        sg.send(make_mail())
    with pytest.raises(sg_exc.HTTPError) as info:
        sg.send(make_mail())
    assert type(info.value) is sg_exc.HTTPError  # 502 has no subclass in python-http-client
    assert info.value.status_code == 502
    with pytest.raises(sg_exc.UnauthorizedError):
        sg.send(make_mail())
    assert handle.stats()["accepted_requests"] == 0
    assert sg.send(make_mail()).status_code == 202  # the scripted faults are used up


def test_accept_then_reset_records_and_client_sees_connection_reset(emu_factory):
    handle = emu_factory()
    handle.set_faults(next=["reset_after_accept"])
    with pytest.raises(ConnectionResetError):  # RemoteDisconnected is a subclass
        client_for(handle).send(make_mail("reset@example.org"))
    assert len(handle.messages_to("reset@example.org")) == 1  # accepted anyway: "unknown"


def test_connection_refused_is_urllib_urlerror(shared_emu):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    import sendgrid

    sg = sendgrid.SendGridAPIClient(api_key=KEY, host=f"http://127.0.0.1:{port}")
    sg.client.timeout = 2
    with pytest.raises(urllib.error.URLError) as info:
        sg.send(make_mail())
    assert isinstance(info.value.reason, ConnectionRefusedError)


def test_sleep_past_timeout_before_accept_is_not_recorded(emu_factory):
    handle = emu_factory()
    handle.set_faults(next=["timeout_before_accept"], timeout_sleep_s=1.0)
    with pytest.raises(TimeoutError):
        client_for(handle, timeout=0.3).send(make_mail("slow-before@example.org"))
    assert handle.messages_to("slow-before@example.org") == []


def test_sleep_past_timeout_after_accept_is_recorded(emu_factory):
    handle = emu_factory()
    handle.set_faults(next=["timeout_after_accept"], timeout_sleep_s=1.0)
    with pytest.raises(TimeoutError):
        client_for(handle, timeout=0.3).send(make_mail("slow-after@example.org"))
    assert len(handle.messages_to("slow-after@example.org")) == 1


def test_reject_regex_makes_matching_addresses_400(emu_factory):
    handle = emu_factory()
    handle.set_faults(reject_regex=r"@blocked\.example$")
    body = make_mail("fine@example.org", "someone@BLOCKED.example")
    with pytest.raises(sg_exc.BadRequestsError) as info:
        client_for(handle).send(body)
    assert error_fields(info.value) == ["personalizations.1.to.0.email"]
    assert client_for(handle).send(make_mail("fine@example.org")).status_code == 202


def test_gzip_is_400_unless_enabled(emu_factory):
    import gzip

    import httpx

    raw = gzip.compress(json.dumps(make_mail("gz@example.org")).encode())
    headers = {"Authorization": f"Bearer {KEY}", "Content-Encoding": "gzip",
               "Content-Type": "application/json"}  # fmt: skip
    off, on = emu_factory(), emu_factory(accept_gzip=True)
    with httpx.Client(trust_env=False) as client:
        assert (
            client.post(off.base_url + "/v3/mail/send", content=raw, headers=headers).status_code
            == 400
        )
        assert (
            client.post(on.base_url + "/v3/mail/send", content=raw, headers=headers).status_code
            == 202
        )
    assert on.messages_to("gz@example.org")


def test_config_defaults_follow_the_reference():
    config = EmulatorConfig()
    assert config.body_max_bytes == 30 * 1024 * 1024
    assert config.custom_args_max_bytes == 10_000
    assert (config.substitutions_max_keys, config.substitutions_max_bytes) == (150, 10_000)
    assert config.rate_limit is None and config.credits is None


def test_close_without_response_is_remote_disconnected(emu_factory):
    import http.client

    handle = emu_factory()
    handle.set_faults(next=["timeout_before_accept"], timeout_sleep_s=0.1)
    with pytest.raises(http.client.RemoteDisconnected):  # the client's timeout is longer
        client_for(handle, timeout=5).send(make_mail("closed@example.org"))
    assert handle.messages_to("closed@example.org") == []
