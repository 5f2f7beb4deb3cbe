"""The accepted-requests log: fsynced before 202, small, queryable with substitutions applied."""

from __future__ import annotations

import json

import httpx

from newsletter.emulator import EmulatorConfig, iter_recipients, messages_to, read_log, run_emulator
from newsletter.emulator.testing import client_for, make_mail


def test_query_returns_the_final_email_with_substitutions(emu):
    response = client_for(emu).send(make_mail("ana@example.org", "bo@example.org"))
    [msg] = emu.messages_to("ANA@Example.org")  # case-insensitive
    assert msg["subject"] == "November news for Ana & Bo"
    assert msg["text"] == "Hi Ana & Bo https://clinic.example/r/L7/RTOKEN"
    assert (
        msg["html"] == '<p>Hi Ana &amp; Bo</p><a href="https://clinic.example/r/L7/RTOKEN">Book</a>'
    )
    assert msg["headers"] == {
        "List-Id": "Clinic news <news.clinic.example>",
        "List-Unsubscribe": "<https://clinic.example/u/UTOKEN>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert msg["custom_args"] == {"send_id": "send-00000"}
    assert msg["x_message_id"] == response.headers["X-Message-Id"]
    assert msg["from"] == {"email": "news@clinic.example", "name": "Clinic News"}
    assert emu.messages_to("nobody@example.org") == []
    # the same through HTTP
    via_http = httpx.get(emu.base_url + "/_emulator/messages", params={"to": "bo@example.org"},
                         trust_env=False).json()  # fmt: skip
    assert [m["sg_message_id"] for m in via_http] == [f"{msg['x_message_id']}.emulator-1-0.0"]
    assert via_http[0]["subject"] == "November news for Ana & Bo"


def test_substitutions_apply_to_reply_to_but_not_headers_or_custom_args(emu):
    body = make_mail(
        "rt@example.org", reply_to={"email": "desk@clinic.example", "name": "-fn_text- desk"}
    )
    body["personalizations"][0]["headers"]["X-Tag"] = "-rt-"
    body["personalizations"][0]["custom_args"] = {"send_id": "-rt-"}
    client_for(emu).send(body)
    [msg] = emu.messages_to("rt@example.org")
    assert msg["reply_to"] == {"email": "desk@clinic.example", "name": "Ana & Bo desk"}
    assert msg["headers"]["X-Tag"] == "-rt-"
    assert msg["custom_args"] == {"send_id": "-rt-"}


def test_log_is_written_before_the_202_and_holds_one_line_per_request(emu):
    sg = client_for(emu)
    for _ in range(3):
        sg.send(make_mail("line@example.org"))
        lines = emu.log_path.read_bytes().splitlines()  # visible as soon as the 202 arrives
    assert len(lines) == 3
    records = list(read_log(emu.log_path))
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert all(r["recipients"] == 1 for r in records)


def test_log_stays_small_templates_once_no_rendered_bodies(emu):
    emails = [f"small{i}@example.org" for i in range(1000)]
    body = make_mail(*emails)
    body["content"][1]["value"] = "<p>" + "A long paragraph of newsletter text. " * 200 + "</p>"
    raw_size = len(json.dumps(body, separators=(",", ":")))
    client_for(emu).send(body)
    data = emu.log_path.read_bytes()
    assert data.count(b"A long paragraph") == 200  # the html template, stored exactly once
    assert b'"rendered"' not in data
    # about the request body plus one sg_message_id per recipient, where rendering every
    # message would take over 7 MB
    assert len(data) < raw_size * 1.3
    [record] = read_log(emu.log_path)
    assert record["recipients"] == 1000
    assert "personalizations" not in record["template"]
    rows = list(iter_recipients(emu.log_path))
    assert [r["email"] for r in rows] == emails
    assert rows[7]["sg_message_id"] == f"{record['x_message_id']}.emulator-7-0.0"
    assert rows[7]["custom_args"] == {"send_id": "send-00007"}


def test_full_bodies_flag_stores_rendered_messages(tmp_path):
    config = EmulatorConfig(full_bodies=True, log_path=tmp_path / "full.jsonl")
    with run_emulator(config) as emu:
        client_for(emu).send(make_mail("full@example.org"))
        [record] = read_log(emu.log_path)
    rendered = record["personalizations"][0]["rendered"]
    assert rendered["subject"] == "November news for Ana & Bo"
    assert "RTOKEN" in rendered["text"]
    assert messages_to(tmp_path / "full.jsonl", "full@example.org")[0]["html"] == rendered["html"]


def test_cc_and_bcc_recipients_get_their_own_ids(emu):
    body = make_mail("main@example.org")
    body["personalizations"][0]["cc"] = [{"email": "cc@example.org"}]
    body["personalizations"][0]["bcc"] = [{"email": "bcc@example.org"}]
    client_for(emu).send(body)
    [bcc] = emu.messages_to("bcc@example.org")
    assert bcc["kind"] == "bcc"
    assert bcc["sg_message_id"].endswith(".emulator-0-2.0")
    assert emu.stats()["accepted_recipients"] == 3


def test_attachment_contents_are_not_logged(emu):
    payload = "QUJD" * 5000
    body = make_mail("att@example.org", attachments=[{"content": payload, "filename": "a.txt"}])
    client_for(emu).send(body)
    data = emu.log_path.read_text()
    assert payload not in data
    [record] = read_log(emu.log_path)
    assert record["template"]["attachments"][0]["content_bytes"] == len(payload)


def test_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "torn.jsonl"
    config = EmulatorConfig(log_path=path)
    with run_emulator(config) as emu:
        client_for(emu).send(make_mail("torn@example.org"))
    with open(path, "ab") as fh:
        fh.write(b'{"v":1,"seq":2,"x_mess')
    assert [r["seq"] for r in read_log(path)] == [1]
    assert len(messages_to(path, "torn@example.org")) == 1


def test_log_survives_restart_and_appends(tmp_path):
    path = tmp_path / "persist.jsonl"
    for _ in range(2):
        with run_emulator(EmulatorConfig(log_path=path)) as emu:
            client_for(emu).send(make_mail("persist@example.org"))
    assert len(messages_to(path, "persist@example.org")) == 2


def test_control_log_endpoint_and_reset(emu):
    client_for(emu).send(make_mail("reset@example.org"))
    text = httpx.get(emu.base_url + "/_emulator/log", trust_env=False).text
    assert (
        json.loads(text.splitlines()[0])["personalizations"][0]["to"][0]["email"]
        == "reset@example.org"
    )
    assert httpx.post(emu.base_url + "/_emulator/reset", trust_env=False).status_code == 200
    assert emu.log_path.read_bytes() == b""
    assert emu.stats()["accepted_requests"] == 0
