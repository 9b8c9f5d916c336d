"""Private repositories over SSH: a project's deploy key and the host keys it pins, against a
real sshd on loopback serving a local bare repository; the API that manages both."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest
from conftest import Capstan, Repo, database_dump, git
from sshd import Sshd

from app.domain.repos import SshHost, ssh_host
from app.keyring import ssh
from app.keyring.vault import Vault
from app.models import Project


def served_repo(repo: Repo, sshd: Sshd, tmp_path: Path) -> str:
    """`repo` as a bare repository reached over the sshd: its ssh:// URL."""
    bare = tmp_path / "private.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo.path), str(bare))
    return f"ssh://{sshd.user}@{sshd.host}:{sshd.port}{bare}"


async def deploy_key(capstan: Capstan, project: str = "web") -> dict[str, str]:
    made = await capstan.http.post(f"/api/v1/projects/{project}/deploy-key")
    assert made.status_code == 201, made.text
    body: dict[str, str] = made.json()
    return body


async def failed(capstan: Capstan, commit: str) -> str:
    """Trigger `commit` (no ls-remote first, as a webhook's push does): the deployment's
    error once it ends FAILED."""
    dep = await capstan.wait_for((await capstan.trigger(ref=commit))["id"], "COMPLETED", "FAILED")
    assert dep["status"] == "FAILED", dep
    assert dep["release"] is None
    error: str = dep["error"]
    return error


async def test_a_private_repository_deploys_once_its_host_key_is_accepted_and_not_after_it_changes(
    capstan: Capstan, repo: Repo, sshd: Sshd, tmp_path: Path
) -> None:
    url = served_repo(repo, sshd, tmp_path)
    await capstan.create_project(repo_url=url, stages=[{"name": "show", "run": "cat app.txt"}])
    key = await deploy_key(capstan)
    public = key["public_key"]
    assert public.startswith("ssh-ed25519 ") and public.endswith(" capstan:web")
    sshd.authorize(key["public_key"])
    commit = git(repo.path, "rev-parse", "HEAD")
    offered = ssh.fingerprint(sshd.host_key)

    refused = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "host_key_not_trusted"
    assert offered in refused.json()["error"]["message"]
    error = await failed(capstan, commit)
    assert error.startswith(f"checkout failed: the host key of [127.0.0.1]:{sshd.port} is not "
                            f"trusted yet: {offered}")  # fmt: skip

    pins = (await capstan.http.get("/api/v1/projects/web/host-keys")).json()["host_keys"]
    assert [(p["host"], p["port"], p["fingerprint"], p["trusted"]) for p in pins] == [
        ("127.0.0.1", sshd.port, offered, False)
    ]
    accepted = await capstan.http.post(f"/api/v1/projects/web/host-keys/{pins[0]['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["trusted"] is True and accepted.json()["accepted_by"] == "admin"

    dep = await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED", "FAILED")
    assert dep["status"] == "COMPLETED", (dep, await capstan.log(dep["id"]))
    assert dep["commit"] == commit
    release = capstan.settings.projects_dir / "web" / dep["release"]
    assert (release / "app.txt").read_text() == "v1\n"
    assert "v1" in await capstan.log(dep["id"])

    sshd.rekey()
    changed = ssh.fingerprint(sshd.host_key)
    error = await failed(capstan, commit)
    assert error.startswith(f"checkout failed: the host key of [127.0.0.1]:{sshd.port} changed")
    assert changed in error and offered in error
    refused = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert refused.status_code == 409 and "changed" in refused.json()["error"]["message"]

    # The private key is in no answer, log or column in plaintext.
    project = await Project.get(name="web")
    assert project.deploy_key is not None
    vault = Vault(bytes.fromhex(capstan.settings.master_key))
    private = vault.decrypt(project.deploy_key, ssh.deploy_key_purpose(project.id))
    secret_lines = [line for line in private.splitlines() if "PRIVATE KEY" not in line]
    assert secret_lines
    seen = [
        (await capstan.http.get(path)).text
        for path in ("/api/v1/projects/web", "/api/v1/projects/web/deploy-key",
                     "/api/v1/projects/web/host-keys", "/api/v1/projects/web/deployments",
                     "/api/v1/audit?limit=500")
    ]  # fmt: skip
    listed = (await capstan.http.get("/api/v1/projects/web/deployments")).json()["deployments"]
    seen += [await capstan.log(d["id"]) for d in listed]
    seen.append(await database_dump(capstan.settings.database_url))
    for text in seen:
        assert not any(line in text for line in secret_lines)
    assert "BEGIN OPENSSH PRIVATE KEY" not in "".join(seen)


async def test_without_a_deploy_key_git_over_ssh_says_the_project_has_none(
    capstan: Capstan, repo: Repo, sshd: Sshd, tmp_path: Path
) -> None:
    await capstan.create_project(repo_url=served_repo(repo, sshd, tmp_path))
    given = await capstan.http.post("/api/v1/projects/web/host-keys",
                                    json={"known_hosts": sshd.known_hosts})  # fmt: skip
    assert given.status_code == 201, given.text
    assert given.json()["host_keys"][0]["trusted"] is True
    refused = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert refused.status_code == 503, refused.text
    assert "Permission denied" in refused.json()["error"]["message"]
    assert "the project has no deploy key" in refused.json()["error"]["message"]
    error = await failed(capstan, git(repo.path, "rev-parse", "HEAD"))
    assert error.startswith("checkout failed: git clone exited with 128")
    assert "the project has no deploy key" in error


async def test_the_deploy_key_is_generated_replaced_and_removed_and_every_change_audited(
    capstan: Capstan,
) -> None:
    await capstan.create_project()
    missing = await capstan.http.get("/api/v1/projects/web/deploy-key")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_deploy_key"
    first = await deploy_key(capstan)
    assert first["fingerprint"] == ssh.fingerprint(first["public_key"])
    assert (await capstan.http.get("/api/v1/projects/web/deploy-key")).json() == first
    second = await deploy_key(capstan)
    assert second["fingerprint"] != first["fingerprint"]
    extra = await capstan.http.post("/api/v1/projects/web/deploy-key", json={"comment": "x"})
    assert extra.status_code == 422
    assert (await capstan.http.delete("/api/v1/projects/web/deploy-key")).status_code == 204
    gone = await capstan.http.delete("/api/v1/projects/web/deploy-key")
    assert gone.status_code == 404
    assert (await Project.get(name="web")).deploy_key is None
    events = (await capstan.http.get("/api/v1/audit?project=web")).json()["events"]
    trail = [(e["action"], e["details"].get("fingerprint")) for e in events][::-1]
    assert trail[1:] == [("deploy_key.generate", first["fingerprint"]),
                         ("deploy_key.replace", second["fingerprint"]),
                         ("deploy_key.delete", second["fingerprint"])]  # fmt: skip


async def test_host_keys_are_scanned_untrusted_given_trusted_accepted_and_removed(
    capstan: Capstan, sshd: Sshd
) -> None:
    await capstan.create_project()
    api = "/api/v1/projects/web/host-keys"
    scanned = await capstan.http.post(api, json={"host": sshd.host, "port": sshd.port})
    assert scanned.status_code == 201, scanned.text
    [pin] = scanned.json()["host_keys"]
    assert (pin["key"], pin["trusted"], pin["accepted_by"]) == (sshd.host_key, False, None)
    again = await capstan.http.post(api, json={"host": sshd.host, "port": sshd.port})
    assert again.json()["host_keys"][0]["id"] == pin["id"]  # seen before: the same row

    old = (await capstan.http.post(f"{api}/{pin['id']}/accept")).json()
    ecdsa = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key("openssh")
    line = f"[{sshd.host}]:{sshd.port} {ecdsa.decode()}"  # the host's key of another type
    other = (await capstan.http.post(api, json={"known_hosts": line})).json()["host_keys"][0]
    sshd.rekey()
    new = (await capstan.http.post(api, json={"host": sshd.host, "port": sshd.port})).json()
    accepted = await capstan.http.post(f"{api}/{new['host_keys'][0]['id']}/accept")
    assert accepted.json()["trusted"] is True
    listed = {p["id"]: p["trusted"] for p in (await capstan.http.get(api)).json()["host_keys"]}
    # The new key replaced every key the rebuilt host had, of whatever type.
    assert listed == {old["id"]: False, other["id"]: False, accepted.json()["id"]: True}

    lines = f"# GitHub's\ngithub.com,[gh.example]:2222 {sshd.host_key} a comment\n\n"
    given = await capstan.http.post(api, json={"known_hosts": lines})
    assert given.status_code == 201, given.text
    assert [(p["host"], p["port"], p["trusted"]) for p in given.json()["host_keys"]] == [
        ("github.com", 22, True), ("gh.example", 2222, True)]  # fmt: skip

    for body, field in (
        ({"known_hosts": f"|1|aGFzaA==|aGFzaA== {sshd.host_key}"}, "known_hosts"),
        ({"known_hosts": f"*.example.com {sshd.host_key}"}, "known_hosts"),
        ({"known_hosts": "@revoked * ssh-ed25519 AAAA"}, "known_hosts"),
        ({"known_hosts": "example.com ssh-ed25519 bm90IGEga2V5IGF0IGFsbA=="}, "known_hosts"),
        ({"known_hosts": "\n# nothing\n"}, "known_hosts"),
        ({"host": "-oProxyCommand=x"}, "host"),
        ({"host": ".."}, "host"),  # DNS encoding would refuse these: not a 500
        ({"host": "a..b"}, "host"),
        ({"host": "a" * 64 + ".example.com"}, "host"),
        ({"host": "h*.example.com"}, "host"),
        ({"known_hosts": f"a..b {sshd.host_key}"}, "known_hosts"),
        ({"host": sshd.host, "port": 0}, "port"),
        ({"host": sshd.host, "port": True}, "port"),
        ({"host": sshd.host, "known_hosts": sshd.known_hosts}, "body"),
        ({}, "body"),
    ):
        refused = await capstan.http.post(api, json=body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["error"]["field"] == field, body
    closed = await capstan.http.post(api, json={"host": "127.0.0.1", "port": 9})
    assert closed.status_code == 422 and closed.json()["error"]["code"] == "host_unreachable"

    first = given.json()["host_keys"][0]["id"]
    assert (await capstan.http.delete(f"{api}/{first}")).status_code == 204
    for path in (f"{api}/{first}", f"{api}/0", f"{api}/99999999999999999999", f"{api}/x"):
        assert (await capstan.http.delete(path)).status_code == 404, path
    events = (await capstan.http.get("/api/v1/audit?project=web")).json()["events"]
    actions = [e["action"] for e in events]
    assert {"host_key.scan", "host_key.accept", "host_key.add", "host_key.delete"} <= set(actions)
    replacing = next(e["details"] for e in events if e["action"] == "host_key.accept")
    assert sorted(replacing["replaced"]) == sorted([old["fingerprint"], other["fingerprint"]])


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ssh://git@127.0.0.1:2222/srv/app.git", SshHost("127.0.0.1", 2222)),
        ("git+ssh://git@example.com/org/app.git", SshHost("example.com")),
        ("ssh+git://[::1]:2200/app.git", SshHost("::1", 2200)),
        ("git@github.com:org/app.git", SshHost("github.com")),
        ("gitlab.example:group/app.git", SshHost("gitlab.example")),
        ("git@GitHub.COM.:org/app.git", SshHost("github.com")),  # as hosts are pinned
        ("ssh://[0:0::1]/app.git", SshHost("::1")),
        ("https://github.com/org/app.git", None),
        ("git://example.com/app.git", None),
        ("/srv/git/app.git", None),
        ("file:///srv/git/app.git", None),
    ],
)
def test_ssh_urls_name_the_host_whose_key_is_checked(url: str, host: SshHost | None) -> None:
    assert ssh_host(url) == host


MALFORMED_SSH_URLS = [
    "ssh://git@:22/app.git",
    "ssh://example.com:70000/app.git",
    "ssh://git@a..b/app.git",
    "git@ho st:app.git",
    "git@h*:app.git",
    f"git@{'a' * 64}.example.com:app.git",
]


@pytest.mark.parametrize("url", MALFORMED_SSH_URLS)
def test_a_malformed_ssh_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        ssh_host(url)


async def test_a_repo_url_whose_ssh_host_is_no_host_name_is_refused_before_any_deployment(
    capstan: Capstan,
) -> None:
    for url in MALFORMED_SSH_URLS:
        made = await capstan.http.post("/api/v1/projects", json={
            "name": "web", "repo_url": url, "stages": [{"name": "a", "run": "true"}]})  # fmt: skip
        assert made.status_code == 422, (url, made.text)
        assert made.json()["error"]["field"] == "repo_url", url
    # One stored before such URLs were refused: a deployment says why, not a 500.
    await capstan.create_project()
    await Project.filter(name="web").update(repo_url="git@a..b:app.git")
    refused = await capstan.http.post("/api/v1/projects/web/deployments", json={})
    assert refused.status_code == 503, refused.text
    assert "is not a host name" in refused.json()["error"]["message"]


async def test_a_known_hosts_entry_pins_the_host_as_targets_and_urls_name_it(
    capstan: Capstan, sshd: Sshd
) -> None:
    """Host names are compared lower-cased: a pin given for `LocalHost` is the pin of the
    `localhost` a target or a repository URL names."""
    await capstan.create_project()
    line = f"[LocalHost.]:{sshd.port} {sshd.host_key}"
    given = await capstan.http.post("/api/v1/projects/web/host-keys", json={"known_hosts": line})
    assert given.status_code == 201, given.text
    assert given.json()["host_keys"][0]["host"] == "localhost"
    project = await Project.get(name="web")
    assert await ssh.check_host(project.id, "localhost", sshd.port) == [sshd.host_key]
    made = await capstan.http.post("/api/v1/projects/web/targets", json={
        "name": "web-1", "host": "LOCALHOST", "user": sshd.user, "path": "/srv/web"})  # fmt: skip
    assert made.json()["host"] == "localhost"
