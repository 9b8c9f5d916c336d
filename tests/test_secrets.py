"""Secrets: encrypted at rest, given to stages as environment variables, masked everywhere."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import Capstan, database_dump

from app.domain.masker import secret_forms
from app.models import Secret

API_KEY = 's3cr3t/p@ss "quoted" +plus&more'
CERT = (
    "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END KEY-----"
)

PRINT_EVERY_FORM = r"""
echo "plain: $API_KEY"
echo "$CERT"
printf '%s' "$API_KEY" | base64 -w0; echo
printf 'x%s' "$API_KEY" | base64 -w0; echo
printf 'xy%s' "$API_KEY" | base64 -w0; echo
python3 -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["API_KEY"], safe=""))'
python3 -c 'import os, urllib.parse; print(urllib.parse.quote_plus(os.environ["API_KEY"]))'
python3 -c 'import os, json; print(json.dumps({"key": os.environ["API_KEY"]}))'
python3 -c '
import os, sys, time
for ch in os.environ["API_KEY"]:
    sys.stdout.write(ch); sys.stdout.flush(); time.sleep(0.002)
print()'
echo done
"""


async def put(capstan: Capstan, name: str, value: str, project: str = "web") -> int:
    response = await capstan.http.put(
        f"/api/v1/projects/{project}/secrets/{name}", json={"value": value}
    )
    return response.status_code


async def test_secret_api_never_returns_values(capstan: Capstan) -> None:
    await capstan.create_project()
    assert await put(capstan, "API_KEY", API_KEY) == 204
    assert await put(capstan, "API_KEY", API_KEY + "2") == 204
    listed = (await capstan.http.get("/api/v1/projects/web/secrets")).json()
    assert [s["name"] for s in listed["secrets"]] == ["API_KEY"]
    assert listed["secrets"][0]["updated_by"] and listed["secrets"][0]["updated_at"]
    assert API_KEY not in str(listed)
    short = await capstan.http.put("/api/v1/projects/web/secrets/PIN", json={"value": "12345"})
    assert short.status_code == 200 and "warning" in short.json()
    tiny = await capstan.http.put("/api/v1/projects/web/secrets/PIN", json={"value": "123"})
    assert tiny.status_code == 422 and tiny.json()["error"]["field"] == "value"
    bad = await capstan.http.put("/api/v1/projects/web/secrets/lower", json={"value": "x" * 9})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "name"
    assert (await capstan.http.delete("/api/v1/projects/web/secrets/PIN")).status_code == 204
    assert (await capstan.http.delete("/api/v1/projects/web/secrets/PIN")).status_code == 404


async def test_a_stage_printing_every_form_leaks_none(capstan: Capstan) -> None:
    await capstan.create_project(stages=[{"name": "leak", "run": PRINT_EVERY_FORM}])
    await put(capstan, "API_KEY", API_KEY)
    await put(capstan, "CERT", CERT)
    dep = await capstan.trigger()
    sse = capstan.http.stream(
        "GET", f"/api/v1/deployments/{dep['id']}/logs", headers={"Accept": "text/event-stream"}
    )
    async with sse as response:
        streamed_sse = (await response.aread()).decode()
    streamed_plain = (await capstan.http.get(f"/api/v1/deployments/{dep['id']}/logs")).text
    done = await capstan.wait_for(dep["id"], "COMPLETED")
    stored = await capstan.log(dep["id"])
    assert "done" in stored and stored.count("[MASKED]") >= 9
    forms = secret_forms(API_KEY) | secret_forms(CERT)
    for output in (stored, streamed_sse, streamed_plain, str(done)):
        for form in forms:
            assert form not in output, form


async def test_stage_gets_the_values_it_needs(capstan: Capstan) -> None:
    script = '[ "$API_KEY" = "$EXPECTED_COPY" ] && echo same'
    await capstan.create_project(stages=[{"name": "check", "run": script}])
    await put(capstan, "API_KEY", API_KEY)
    await put(capstan, "EXPECTED_COPY", API_KEY)
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    assert "same" in await capstan.log(dep["id"])


async def test_a_secret_changed_during_a_run_stays_masked(capstan: Capstan) -> None:
    stages = [
        {"name": "one", "run": "echo first $TOKEN"},
        {"name": "gate", "approval": True},
        {"name": "two", "run": "echo second $TOKEN; echo old was old-token-value"},
    ]
    await capstan.create_project(stages=stages)
    await put(capstan, "TOKEN", "old-token-value")
    dep = await capstan.trigger()
    await capstan.awaiting_approval(dep["id"])
    await put(capstan, "TOKEN", "new-token-value")
    await capstan.approve(dep["id"])
    await capstan.wait_for(dep["id"], "COMPLETED")
    log = await capstan.log(dep["id"])
    assert "old-token-value" not in log and "new-token-value" not in log
    assert log.count("[MASKED]") == 3


async def test_database_dump_holds_no_plaintext_secret(capstan: Capstan) -> None:
    created = await capstan.create_project()
    await put(capstan, "API_KEY", API_KEY)
    await put(capstan, "CERT", CERT)
    url = capstan.settings.database_url
    dumps = [await database_dump(url)]
    if url.startswith("postgres") and shutil.which("pg_dump"):
        dumps.append(subprocess.run(["pg_dump", url], capture_output=True, text=True).stdout)
    for dump in dumps:
        assert "v1:" in dump
        for value in (API_KEY, CERT, *CERT.split("\n"), created["webhook_secret"]):
            assert value not in dump


async def test_a_ciphertext_moved_to_another_row_fails_to_decrypt(capstan: Capstan) -> None:
    await capstan.create_project("one", stages=[{"name": "x", "run": "echo $KEY"}])
    await capstan.create_project("two", stages=[{"name": "x", "run": "echo $KEY"}])
    await put(capstan, "KEY", "value-of-one", project="one")
    await put(capstan, "KEY", "value-of-two", project="two")
    stolen = await Secret.get(project__name="one", name="KEY")
    await Secret.filter(project__name="two", name="KEY").update(value=stolen.value)
    dep = await capstan.wait_for((await capstan.trigger("two"))["id"], "FAILED")
    assert "cannot be decrypted" in dep["error"]
    assert "value-of-one" not in await capstan.log(dep["id"])


@pytest.mark.parametrize("name", ["CAPSTAN_MASTER_KEY", "CAPSTAN_DATABASE_URL"])
async def test_server_settings_never_reach_a_stage(capstan: Capstan, name: str) -> None:
    await capstan.create_project(stages=[{"name": "env", "run": f'echo "[${{{name}}}]"; env'}])
    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    log = await capstan.log(dep["id"])
    assert "[]" in log and capstan.settings.master_key not in log
