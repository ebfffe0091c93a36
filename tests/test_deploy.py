"""deploy/: the systemd unit, the image, Compose and their README agree with each other and with the code.

Nothing here is skipped: when ``systemd-analyze`` is installed, the unit test also runs
``systemd-analyze verify`` (and ``security`` where it can read a unit offline); without it,
the same test still checks the unit as an INI file. Docker itself is never needed.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fakes.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "monitor.service"
DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
DOCKER_CONFIG = DEPLOY / "monitor.docker.toml"
ENV_EXAMPLE = DEPLOY / "monitor.env.example"
DEPLOY_README = ROOT / "README.md"  # its "## Deploy" section: see text()
DOCKERIGNORE = ROOT / ".dockerignore"


def text(path: Path) -> str:
    """A file's text; for README.md, only its "## Deploy" section (up to the next "## ")."""
    whole = path.read_text(encoding="utf-8")
    if path != DEPLOY_README:
        return whole
    section = whole[whole.index("\n## Deploy\n") + 1 :]
    return section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section


# --- the systemd unit -----------------------------------------------------------

# [Service] settings the unit must have, exactly.
SERVICE = {
    "Type": "exec",
    "DynamicUser": "yes",
    "StateDirectory": "monitor",
    "ConfigurationDirectory": "monitor",
    "WorkingDirectory": "/var/lib/monitor",
    "EnvironmentFile": "-/etc/monitor/monitor.env",
    "Restart": "on-failure",
    "RestartSec": "10",
    "TimeoutStopSec": "30",
    "KillSignal": "SIGTERM",
    "UMask": "0077",
    "MemoryMax": "512M",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
}
CREDENTIAL = re.compile(r"^#\s*LoadCredential=([\w.-]+):(\S+)\s*$", re.MULTILINE)


def read_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read_string(text(UNIT), source=str(UNIT))
    return unit


def unit_values(section: str, key: str) -> list[str]:
    """Every value of a key systemd accumulates (Environment=), which configparser would collapse."""
    values, current = [], None
    for line in text(UNIT).splitlines():
        if m := re.fullmatch(r"\[(\w+)\]", line.strip()):
            current = m.group(1)
        elif current == section and line.startswith(f"{key}="):
            values.append(line.split("=", 1)[1])
    return values


def console_script() -> tuple[str, str]:
    """The one [project.scripts] entry: (name, module:function)."""
    scripts = tomllib.loads(text(ROOT / "pyproject.toml"))["project"]["scripts"]
    assert len(scripts) == 1, scripts
    return next(iter(scripts.items()))


def exec_start() -> list[str]:
    return shlex.split(read_unit()["Service"]["ExecStart"])


def test_systemd_unit(tmp_path: Path) -> None:
    unit = read_unit()
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    wrong = {key: service.get(key) for key, value in SERVICE.items() if service.get(key) != value}
    assert not wrong, f"{wrong} should be { {key: SERVICE[key] for key in wrong} }"
    assert "MONITOR_CONFIG=/etc/monitor/monitor.toml" in unit_values("Service", "Environment")
    for key in ("Wants", "After"):
        assert "network-online.target" in unit["Unit"][key].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"

    name, entry_point = console_script()
    argv = exec_start()
    assert entry_point == "monitor.__main__:run"
    assert Path(argv[0]).is_absolute() and Path(argv[0]).name == name, argv
    assert argv[1:] == ["run"], argv

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("systemd-analyze not installed: INI checks only")
        return
    # verify wants ExecStart= to exist: point it at this venv's console script.
    local = Path(sys.executable).with_name(name)
    assert os.access(local, os.X_OK), f"{local}: install the package (pip install -e .) first"
    copy = tmp_path / UNIT.name
    copy.write_text(text(UNIT).replace(f"ExecStart={argv[0]} ", f"ExecStart={local} "), encoding="utf-8")
    assert str(local) in text(copy)
    verify = subprocess.run([analyze, "verify", "--man=no", str(copy)], capture_output=True, text=True)
    complaints = [line for line in (verify.stdout + verify.stderr).splitlines() if UNIT.name in line]
    assert verify.returncode == 0 and not complaints, verify.stdout + verify.stderr

    version = subprocess.run([analyze, "--version"], capture_output=True, text=True, check=True).stdout
    release = re.match(r"systemd (\d+)", version)
    assert release, version
    if int(release.group(1)) >= 250:  # security --offline
        # Exposure 2.0 at most (systemd-analyze prints 1.6 "OK" for this unit on systemd 252).
        security = subprocess.run(
            [analyze, "security", "--offline=yes", "--threshold=20", str(copy)],
            capture_output=True,
            text=True,
        )
        assert security.returncode == 0, security.stdout[-3000:] + security.stderr


def test_the_command_imports_nothing_a_parser_process_does_not_need() -> None:
    """A parser process (spawn) runs the console script's imports again before its work: the
    module the script names must not pull in the service (monitor.cli.main and all it uses)."""
    module = console_script()[1].split(":")[0]
    heavy = ("monitor.cli", "telegram", "httpx")
    probe = f"import sys, {module}; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]", found.stdout + found.stderr


def test_unit_paths_match_the_docs_and_the_code() -> None:
    from monitor.config.load import CHAT_ENV, TOKEN_ENV

    service = read_unit()["Service"]
    readme, unit_text = text(DEPLOY_README), text(UNIT)
    config_dir = f"/etc/{service['ConfigurationDirectory']}"
    state_dir = f"/var/lib/{service['StateDirectory']}"
    config = dict(v.split("=", 1) for v in unit_values("Service", "Environment"))["MONITOR_CONFIG"]
    assert Path(config).parent == Path(config_dir)
    assert service["WorkingDirectory"] == state_dir
    assert f'path = "{state_dir}/monitor.db"' in readme  # the archive must be in the writable state dir

    # the venv the README creates is the one ExecStart runs
    script = Path(exec_start()[0])
    assert script.parent.name == "bin"
    assert f"python3 -m venv {script.parent.parent}\n" in readme
    assert f"{script.parent.parent}/bin/pip install ." in readme

    # the environment file: where the README installs it, and the variables the code reads
    env_file = service["EnvironmentFile"].removeprefix("-")
    assert Path(env_file).parent == Path(config_dir)
    assert f"deploy/{ENV_EXAMPLE.name} {env_file}" in readme
    keys = re.findall(r"^([A-Z_]+)=", text(ENV_EXAMPLE), re.MULTILINE)
    assert keys == [TOKEN_ENV, CHAT_ENV]

    # the credential alternative: the literal path the config needs is the unit's credentials dir
    (credential, source), *others = CREDENTIAL.findall(unit_text)
    assert not others
    token_file = f'token_file = "/run/credentials/{UNIT.name}/{credential}"'
    assert token_file in unit_text and token_file in readme
    assert f"LoadCredential={credential}:{source}" in readme
    assert Path(source).parent == Path(config_dir)
    assert "${CREDENTIALS_DIRECTORY}" in readme and "does not expand variables" in readme

    # the day-to-day commands name the unit
    unit_name = UNIT.name.removesuffix(".service")
    for command in (f"systemctl enable --now {unit_name}", f"journalctl -u {unit_name}"):
        assert command in readme
    assert f"deploy/{UNIT.name} /etc/systemd/system/{UNIT.name}" in readme


def test_readme_helper_runs_commands_as_the_service_does() -> None:
    """`monitorctl` (systemd-run) must use the unit's user, state directory, config and script."""
    service = read_unit()["Service"]
    helper = re.search(r"^monitorctl\(\) \{\n(.*?)^\}", text(DEPLOY_README), re.MULTILINE | re.DOTALL)
    assert helper, "the README defines monitorctl()"
    words = shlex.split(helper.group(1).replace("\\\n", " "))
    assert words[:2] == ["sudo", "systemd-run"] and "--pipe" in words and "--wait" in words
    props = {words[i + 1] for i, w in enumerate(words) if w == "-p"}
    env = {words[i + 1] for i, w in enumerate(words) if w == "-E"}
    for key in ("DynamicUser", "User", "StateDirectory"):
        assert f"{key}={service[key]}" in props
    assert set(unit_values("Service", "Environment")) <= env
    assert words[-2:] == [exec_start()[0], "$@"]


# --- every `monitor ...` command the deploy files mention exists ---------------

# `monitor`, `.../bin/monitor`, the README's `monitorctl` wrapper, or an image (`monitor:latest status`).
PROGRAM = re.compile(r"(?:(?<=/bin/)|(?<![\w./=-]))monitor(?:ctl)?(?::[\w.-]+)?(?=[ \t]|$)", re.MULTILINE)
WORD = re.compile(r"[a-z][a-z-]*")
GLOBAL_OPTIONS = {"--config": True, "--log-level": True, "--version": False, "-h": False, "--help": False}


def markdown_code(markdown: str) -> str:
    """The fenced blocks and inline code spans of a Markdown text, one per line."""
    blocks: list[str] = []

    def fence(m: re.Match[str]) -> str:
        blocks.append(m.group(1))
        return ""

    prose = re.sub(r"^```[^\n]*\n(.*?)^```", fence, markdown, flags=re.MULTILINE | re.DOTALL)
    return "\n".join(blocks + re.findall(r"`([^`\n]+)`", prose))


def without_prose(code: str) -> str:
    """Commands, not comments: a `# ...` line keeps only its `code spans`, other lines lose
    their trailing `  # ...` comment. So prose in comments may say "monitor keeps ..." freely."""
    lines = []
    for line in code.splitlines():
        if line.lstrip().startswith("#"):
            lines += re.findall(r"`([^`]+)`", line)
        else:
            lines.append(re.sub(r"\s#.*", "", line))
    return "\n".join(lines)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines = [line for line in text(DOCKERFILE).splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [
        (m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", joined, re.MULTILINE)
    ]


def dockerfile(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == instruction]


def invocations(code: str) -> Iterator[list[str]]:
    """The command words after each `monitor` in some shell-ish text: `monitor --config X rules check
    ...` gives ["rules", "check"]. `monitor \\`, `-u monitor -f` and the like give nothing."""
    for m in PROGRAM.finditer(code):
        rest = code[m.end() :].split("\n", 1)[0]
        tokens = re.split(r"[`\"';|&)]|\s#", rest, maxsplit=1)[0].split()
        i = 0
        while i < len(tokens) and tokens[i].partition("=")[0] in GLOBAL_OPTIONS:
            name, eq, _ = tokens[i].partition("=")
            i += 2 if GLOBAL_OPTIONS[name] and not eq else 1
        words: list[str] = []
        for token in tokens[i:]:
            if not WORD.fullmatch(token):
                break
            words.append(token)
        if words and words[0] != "monitor":  # `exec monitor monitor status`: the second one counts
            yield words


def mentioned_commands() -> dict[str, set[str]]:
    """'command [action]' -> the deploy files mentioning it."""
    found: dict[str, set[str]] = {}
    for path in [*sorted(DEPLOY.iterdir()), DEPLOY_README]:
        code = markdown_code(text(path)) if path.suffix == ".md" else text(path)
        commands = list(invocations(without_prose(code)))
        if path == DOCKERFILE:  # exec form: ENTRYPOINT ["monitor"] + CMD ["run"]
            (entrypoint,) = dockerfile("ENTRYPOINT")
            (cmd,) = dockerfile("CMD")
            commands += invocations(shlex.join(json.loads(entrypoint) + json.loads(cmd)))
        for words in commands:
            found.setdefault(" ".join(words[:2]), set()).add(path.name)
    return found


MENTIONED = mentioned_commands()


def test_global_options_are_the_parsers() -> None:
    """The scanner skips exactly the options `monitor` takes before its command."""
    from monitor.cli.main import build_parser

    parser = build_parser()
    takes_value = {
        option: action.nargs != 0 for action in parser._actions for option in action.option_strings
    }
    assert takes_value == GLOBAL_OPTIONS


def test_the_scan_finds_the_commands_deploy_relies_on() -> None:
    assert {DOCKERFILE.name, UNIT.name, DEPLOY_README.name} <= MENTIONED["run"]
    assert {"status", "search", "backup", "rules check"} <= set(MENTIONED)


@pytest.mark.parametrize("mention", sorted(MENTIONED))
def test_mentioned_command_exists(mention: str) -> None:
    from monitor.cli.main import COMMANDS, build_parser

    command, *action = mention.split()
    where = ", ".join(sorted(MENTIONED[mention]))
    assert command in COMMANDS, f"`monitor {mention}` ({where}): no command {command!r}"
    choices = subcommands(build_parser())
    assert command in choices, f"`monitor {mention}` ({where}): not in the parser"
    actions = subcommands(choices[command])
    if actions and action:
        assert action[0] in actions, f"`monitor {mention}` ({where}): {command} has no {action[0]!r}"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


# --- the image ------------------------------------------------------------------


def healthcheck() -> tuple[dict[str, str], list[str]]:
    """The HEALTHCHECK's options and its exec-form command."""
    (args,) = dockerfile("HEALTHCHECK")
    options, command = args.split("CMD", 1)
    flags = dict(re.findall(r"--([\w-]+)=(\S+)", options))
    return flags, json.loads(command)


def test_dockerfile() -> None:
    instructions = dict(dockerfile_instructions())  # the last of each
    images = [args.split()[0] for args in dockerfile("FROM")]
    assert len(set(images)) == 1, images  # the venv moves between stages: one Python
    image = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", images[0])
    assert image, images  # the minor version is pinned, the image is slim
    requires = re.fullmatch(
        r">=3\.(\d+)", tomllib.loads(text(ROOT / "pyproject.toml"))["project"]["requires-python"]
    )
    assert requires and int(image.group(1)) >= int(requires.group(1))
    assert instructions["USER"] == "10001:10001"
    assert re.search(r"useradd\b.*--uid 10001\b", " ".join(dockerfile("RUN")))
    assert instructions["VOLUME"] == "/data"
    assert "MONITOR_CONFIG=/etc/monitor/monitor.toml" in instructions["ENV"].split()
    assert instructions["EXPOSE"] == "9108"
    assert instructions["STOPSIGNAL"] == "SIGTERM"
    name, _ = console_script()
    assert json.loads(instructions["ENTRYPOINT"]) == [name]
    assert json.loads(dockerfile("CMD")[-1]) == ["run"]
    assert any("pip install --no-cache-dir ." in run for run in dockerfile("RUN"))
    copies = {dest: src for src, dest in (c.rsplit(maxsplit=1) for c in dockerfile("COPY"))}
    assert copies["/etc/monitor/monitor.toml"] == f"deploy/{DOCKER_CONFIG.name}"
    assert copies["/etc/monitor/rules/"] == "rules/"


def test_the_package_declares_every_package_it_imports() -> None:
    """The image and /opt/monitor get only [project] dependencies (pip install .), not this venv."""
    project = tomllib.loads(text(ROOT / "pyproject.toml"))["project"]

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    declared = {canonical(re.split(r"[^\w.-]", d, maxsplit=1)[0]) for d in project["dependencies"]}
    distributions = importlib.metadata.packages_distributions()
    undeclared: dict[str, set[str]] = {}
    for source in sorted((ROOT / "monitor").rglob("*.py")):
        for node in ast.walk(ast.parse(text(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} - set(sys.stdlib_module_names) - {"monitor"}:
                provided_by = {canonical(d) for d in distributions.get(top, [])}
                if not provided_by & declared:
                    undeclared.setdefault(top, set()).add(source.name)
    assert not undeclared, f"imported but not in [project] dependencies: {undeclared}"


def dockerignore_excludes(relative: str) -> bool:
    """Whether .dockerignore keeps a path (or a folder above it) out of the build context.
    fnmatch's * also crosses "/", so this errs towards "excluded": safe for this check."""
    patterns = [p for p in text(DOCKERIGNORE).splitlines() if p.strip() and not p.startswith("#")]
    assert not any(p.startswith("!") for p in patterns), "negations are not modelled here"
    parts = relative.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in (p.strip().rstrip("/") for p in patterns):
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and any(
                fnmatch.fnmatchcase("/".join(prefix.split("/")[j:]), pattern[3:])
                for j in range(len(prefix.split("/")))
            ):
                return True
    return False


def test_dockerignore_keeps_what_the_image_copies_and_drops_secrets() -> None:
    sources = [
        src for copy in dockerfile("COPY") if not copy.startswith("--from=") for src in copy.split()[:-1]
    ]
    assert sources
    for source in sources:
        path = ROOT / source
        assert path.exists(), source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            if "__pycache__" not in relative:
                assert not dockerignore_excludes(relative), f".dockerignore drops {relative}, which is copied"
    for kept_out in (".git/config", ".venv/bin/python", "tests/data/x", "monitor/__pycache__/a.pyc"):
        assert dockerignore_excludes(kept_out), kept_out
    for secret in ("deploy/monitor.env", "monitor.env", "monitor.db", "x/monitor.db-wal", "monitor.db.lock"):
        assert dockerignore_excludes(secret), secret
    assert not dockerignore_excludes(f"deploy/{ENV_EXAMPLE.name}")


def test_healthcheck_command_works() -> None:
    """The HEALTHCHECK runs as written (with python) against a local server: 200 -> 0, 503 -> 1,
    nothing listening -> 1; an HTTP proxy in the environment (meant for the feeds) is not used."""
    flags, command = healthcheck()
    assert command[:2] == ["python", "-c"] and len(command) == 3, command
    assert not re.search(r"\b(curl|wget)\b", " ".join(command))
    code = command[2]
    url = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", code)
    assert url and url.group(1) == "9108", code
    timeout = re.search(r"timeout=(\d+(?:\.\d+)?)\)", code)
    assert timeout and float(timeout.group(1)) < float(flags["timeout"].removesuffix("s")), (code, flags)

    answers = [200, 503]

    def healthz(request: Any) -> None:  # what monitor's /healthz answers, healthy then failing
        status = answers.pop(0)
        body = json.dumps({"status": "ok" if status == 200 else "failing"}).encode()
        request.reply(status, body, {"Content-Type": "application/json"})

    env = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"}
    with FeedServer() as server:
        server.route("/healthz", healthz)
        local = code.replace("127.0.0.1:9108", f"127.0.0.1:{server.port}")
        codes = [
            subprocess.run([sys.executable, "-c", local], env=env, capture_output=True, timeout=30).returncode
            for _ in range(2)
        ]
    assert codes == [0, 1]
    assert [r.path for r in server.requests] == ["/healthz", "/healthz"]
    refused = subprocess.run([sys.executable, "-c", local], env=env, capture_output=True, timeout=30)
    assert refused.returncode == 1


def test_docker_config_loads() -> None:
    from monitor.config.load import load_config

    config = load_config(DOCKER_CONFIG, environ={})
    assert config.storage_path == Path("/data/monitor.db")
    assert config.rule_paths == (Path("/etc/monitor/rules"),)
    assert config.service.listen == "0.0.0.0:9108"
    assert config.telegram.token is None  # the token comes from the environment only


def test_docker_config_feeds_are_the_shipped_ones() -> None:
    """monitor.docker.toml copies the feeds of the repository's monitor.toml; keep them in step."""
    shipped = tomllib.loads(text(ROOT / "monitor.toml"))
    docker = tomllib.loads(text(DOCKER_CONFIG))
    assert docker["feeds"] == shipped["feeds"]
    assert "token" not in docker.get("telegram", {})
    storage = Path(docker["storage"]["path"])
    assert storage.parent == Path(dict(dockerfile_instructions())["VOLUME"])
    port = docker["service"]["listen"].rsplit(":", 1)[1]
    assert port == dict(dockerfile_instructions())["EXPOSE"]


# --- Compose ----------------------------------------------------------------------


def test_compose_file() -> None:
    """PyYAML is not a dependency: a structural check when it happens to be installed, and always a
    line-by-line check of the same facts."""
    compose = text(COMPOSE)

    def line(pattern: str) -> None:
        assert re.search(pattern, compose, re.MULTILINE), pattern

    line(r"^services:\n  monitor:$")
    build = re.search(r"^    build:\n      context: (\S+).*\n      dockerfile: (\S+)", compose, re.MULTILINE)
    assert build and (COMPOSE.parent / build.group(1) / build.group(2)).resolve() == DOCKERFILE
    env_file = re.search(r"^    env_file: (\S+)", compose, re.MULTILINE)
    assert env_file and (COMPOSE.parent / f"{env_file.group(1)}.example") == ENV_EXAMPLE
    line(r"^    volumes:\n      - monitor-data:/data\s")
    line(r"^volumes:\n  monitor-data:$")
    line(r"^    restart: unless-stopped$")
    line(r'^    ports:\n      - "127\.0\.0\.1:9108:9108"\s')
    line(r"^    read_only: true\s")
    line(r"^    tmpfs:\n      - /tmp$")
    line(r"^    cap_drop:\n      - ALL$")
    line(r"^    security_opt:\n      - no-new-privileges:true$")
    line(r"^    stop_grace_period: 30s\s")
    # the image's HEALTHCHECK, ENTRYPOINT and CMD apply: Compose must not replace them
    for key in ("healthcheck", "command", "entrypoint", "user"):
        assert not re.search(rf"^\s+{key}:", compose, re.MULTILINE), key

    if importlib.util.find_spec("yaml") is not None:
        import yaml

        data = yaml.safe_load(compose)
        service = data["services"]["monitor"]
        assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            DOCKERFILE
        )
        assert service["env_file"] == "monitor.env"
        assert service["volumes"] == ["monitor-data:/data"] and "monitor-data" in data["volumes"]
        assert service["restart"] == "unless-stopped"
        assert service["ports"] == ["127.0.0.1:9108:9108"]
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
        assert service["cap_drop"] == ["ALL"]
        assert service["security_opt"] == ["no-new-privileges:true"]
        assert service["stop_grace_period"] == "30s"
        assert not {"healthcheck", "command", "entrypoint", "user"} & set(service)


# --- the README section -------------------------------------------------------------


def test_deploy_readme_fits_under_the_deploy_heading() -> None:
    """README.md's "## Deploy": its own headings start at ###, and it covers both ways."""
    prose = re.sub(r"^```.*?^```", "", text(DEPLOY_README), flags=re.MULTILINE | re.DOTALL)
    headings = re.findall(r"^(#+) ", prose, re.MULTILINE)
    assert headings[0] == "##" and min(len(h) for h in headings[1:]) == 3, headings
    for needed in (
        "docker compose -f deploy/compose.yaml up -d --build",
        "docker build -f deploy/Dockerfile -t monitor .",
        "/healthz",
        "/metrics",
        "monitor backup",
        "### Upgrading",
    ):
        assert needed in text(DEPLOY_README), needed
    for path in re.findall(r"`(deploy/[\w./-]+)`", text(DEPLOY_README)):
        assert (ROOT / path).exists() or path == "deploy/monitor.env", path
