"""The docs cannot drift from the code: the README's metric names are what `/metrics` serves,
the OpenAPI document promises what the validators accept, and every file a docstring, comment or
the README cites exists. (The configuration table is checked in tests/test_settings.py.)"""

from __future__ import annotations

import ast
import hashlib
import io
import re
import tokenize
from pathlib import Path
from typing import Any

import pytest
from conftest import Capstan
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st

from app.accounts.auth import check_username
from app.domain import pipeline
from app.domain.pipeline import StageSpec, validate_name, validate_project
from app.errors import Invalid
from app.web.logs import CURSOR
from app.web.openapi import COMPONENTS, PATH_PARAMETERS
from app.web.openapi import CURSOR as DOCUMENTED_CURSOR
from app.web.projects import WEBHOOK_SECRET
from app.web.secrets import SECRET_NAME

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
SCHEMAS: dict[str, Any] = COMPONENTS["schemas"]
STAGE = {"name": "build", "run": "true"}
HISTOGRAM_PARTS = ("_bucket", "_count", "_sum")


def _documented_metrics() -> dict[str, set[str]]:
    line = re.search(r"^- \*\*Metrics\*\*.*?(?=^- )", README, re.M | re.S)
    assert line, "the README's Operations section lists the metrics"
    return {
        name: set(filter(None, labels.split(",")))
        for name, labels in re.findall(r"`(capstan_\w+)(?:\{([\w,]*)\})?`", line.group(0))
    }


def _served_metrics(text: str) -> dict[str, set[str]]:
    families = {
        name
        for name in re.findall(r"^# TYPE (capstan_\w+) \w+$", text, re.M)
        if not name.endswith("_created")
    }
    served: dict[str, set[str]] = {name: set() for name in families}
    for sample, labels in re.findall(r"^(capstan_\w+)(?:\{(.*?)\})? ", text, re.M):
        family = next(
            (f for f in families if sample in (f, *(f + p for p in HISTOGRAM_PARTS))), None
        )
        if family:
            served[family] |= set(re.findall(r"(\w+)=", labels)) - {"le"}
    return served


@pytest.mark.one_database
async def test_the_readme_names_the_metrics_metrics_serves(capstan: Capstan) -> None:
    await capstan.create_project()
    await capstan.wait_for((await capstan.trigger())["id"], "COMPLETED")
    response = await capstan.http.get("/metrics")
    assert response.status_code == 200
    assert _documented_metrics() == _served_metrics(response.text)


def test_the_project_schema_has_every_field_the_validator_takes() -> None:
    writable = {
        name for name, prop in SCHEMAS["Project"]["properties"].items() if not prop.get("readOnly")
    }
    assert writable == {"name", *pipeline.EDITABLE}
    fields = {field.name for field in StageSpec.__dataclass_fields__.values()}
    assert set(SCHEMAS["Stage"]["properties"]) == fields


def _project(**fields: Any) -> dict[str, Any]:
    return validate_project({"name": "web", "stages": [STAGE], **fields}, create=True)


def _refused(field: str, **fields: Any) -> None:
    with pytest.raises(Invalid) as refused:
        _project(**fields)
    assert refused.value.field == field


def _text(prop: str, length: int) -> str:
    prefix = "https://example.com/" if prop == "repo_url" else ""
    return prefix + "a" * (length - len(prefix))


def test_every_project_bound_in_the_document_is_the_validators() -> None:
    props = SCHEMAS["Project"]["properties"]
    for prop in ("repo_url", "branch", "on_rollback", "deploy_tags"):
        most = props[prop]["maxLength"]
        assert _project(**{prop: _text(prop, most)})[prop] == _text(prop, most)
        _refused(prop, **{prop: _text(prop, most + 1)})
    keep = props["keep_releases"]
    assert _project()["keep_releases"] == keep["default"]
    assert _project(keep_releases=keep["maximum"])["keep_releases"] == keep["maximum"]
    _refused("keep_releases", keep_releases=keep["minimum"] - 1)
    _refused("keep_releases", keep_releases=keep["maximum"] + 1)
    stages = props["stages"]
    many = [{"name": f"s{i}", "run": "true"} for i in range(stages["maxItems"] + 1)]
    assert len(_project(stages=many[:-1])["stages"]) == stages["maxItems"]
    _refused("stages", stages=many)
    _refused("stages", stages=many[: stages["minItems"] - 1])
    paths, glob = props["paths"], props["paths"]["items"]
    assert _project(paths=["a" * glob["maxLength"]] * paths["maxItems"])["paths"]
    _refused("paths", paths=["a"] * (paths["maxItems"] + 1))
    _refused("paths[0]", paths=["a" * (glob["maxLength"] + 1)])
    _refused("paths[0]", paths=["a" * (glob["minLength"] - 1)])
    assert set(props["concurrency"]["enum"]) == {_project(concurrency=c)["concurrency"]
                                                 for c in props["concurrency"]["enum"]}  # fmt: skip
    _refused("concurrency", concurrency="sometimes")


def test_every_stage_bound_in_the_document_is_the_validators() -> None:
    props = SCHEMAS["Stage"]["properties"]
    for prop in ("timeout", "retries"):
        low, high = props[prop]["minimum"], props[prop]["maximum"]
        for value in (low, high):
            assert _project(stages=[{**STAGE, prop: value}])["stages"][0][prop] == value
        for value in (low - 1, high + 1):
            _refused(f"stages[0].{prop}", stages=[{**STAGE, prop: value}])
        assert _project()["stages"][0][prop] == props[prop]["default"]
    run = props["run"]["maxLength"]
    assert _project(stages=[{"name": "build", "run": "a" * run}])
    _refused("stages[0].run", stages=[{"name": "build", "run": "a" * (run + 1)}])


def _stage_name(name: str) -> str:
    stages: list[dict[str, Any]] = _project(stages=[{"name": name, "run": "true"}])["stages"]
    return str(stages[0]["name"])


def _matches(regex: re.Pattern[str]) -> Any:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise Invalid("no match")
        return value

    return check


CHECKS = {
    "project": (SCHEMAS["Project"]["properties"]["name"], validate_name),
    "project path": (PATH_PARAMETERS["project"], validate_name),
    "stage": (SCHEMAS["Stage"]["properties"]["name"], _stage_name),
    "username": (PATH_PARAMETERS["username"], check_username),
    "new user": (SCHEMAS["NewUser"]["properties"]["username"], check_username),
    "secret name": (PATH_PARAMETERS["name"], _matches(SECRET_NAME)),
    "webhook secret": (SCHEMAS["WebhookSecret"]["properties"]["secret"], _matches(WEBHOOK_SECRET)),
    "cursor": (DOCUMENTED_CURSOR, _matches(CURSOR)),
}


def _accepts(check: Any, value: str) -> bool:
    try:
        check(value)
    except Invalid:
        return False
    return True


@pytest.mark.parametrize("what", sorted(CHECKS))
@examples(max_examples=60, deadline=None)
@given(data=st.data())
def test_each_documented_pattern_accepts_what_the_api_accepts(what: str, data: Any) -> None:
    schema, check = CHECKS[what]
    pattern = re.compile(schema["pattern"])
    matching = data.draw(st.from_regex(pattern, fullmatch=True))
    assert _accepts(check, matching), matching
    other = data.draw(st.text(alphabet="aZ09_-.!~ \n/" + matching, max_size=300))
    assert _accepts(check, other) == bool(pattern.search(other) and "\n" not in other), other


def _cited_paths(source: str) -> set[str]:
    """Repository paths (`dir/file.ext`) in a Python file's docstrings and comments."""
    texts = [tok.string for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]  # fmt: skip
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            texts.append(ast.get_docstring(node) or "")
    return {path for text in texts for path in PATH.findall(text)}


PATH = re.compile(r"(?<![\w./{$-])((?:[A-Za-z_][\w-]*/)+[\w-]+\.(?:py|md|txt|toml|html|js|css))\b")


def test_every_file_the_code_and_readme_cite_exists() -> None:
    """Tests also name files of the repositories they make: only paths into this one count."""
    top = {entry.name for entry in ROOT.iterdir()}
    cited = {
        (str(file.relative_to(ROOT)), path)
        for folder in ("app", "tests", "bench")
        for file in (ROOT / folder).rglob("*.py")
        for path in _cited_paths(file.read_text())
        if folder != "tests" or path.split("/")[0] in top
    }
    cited |= {("README.md", path) for path in re.findall(r"`" + PATH.pattern + "`", README)}
    assert ("app/web/openapi.py", "tests/test_docs.py") in cited
    assert sorted(c for c in cited if not (ROOT / c[1]).exists()) == []


def _architecture() -> dict[str, set[str]]:
    """The README's Architecture table: each folder and the modules it names."""
    section = README.split("## Architecture\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([\w/]+/)` \|.*\|(.*)\|$", section, re.M)
    return {folder: set(re.findall(r"`(\w+)`", modules)) for folder, modules in rows}


def test_the_architecture_section_names_every_folder_and_module_there_is() -> None:
    table = _architecture()
    packages = {
        f"{path.parent.relative_to(ROOT)}/" for path in (ROOT / "app").glob("**/__init__.py")
    }
    data = {"migrations/", "frontend/"}
    assert set(table) == {"app/", *data, *packages}
    for folder, modules in table.items():
        there = {
            path.stem for path in (ROOT / folder).glob("*.py") if not path.stem.startswith("__")
        }
        assert modules == (there if folder not in data else set()), folder
    assert (ROOT / "migrations/sqlite").is_dir() and (ROOT / "migrations/postgres").is_dir()


def test_the_vendored_scripts_are_the_ones_the_readme_pins() -> None:
    pinned = re.findall(r"^\| `([\w.-]+\.js)` \| [^|]+ \| `([0-9a-f]{64})` \|$", README, re.M)
    vendor = ROOT / "frontend/static/vendor"
    assert {name for name, _ in pinned} == {path.name for path in vendor.iterdir()}
    for name, digest in pinned:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
