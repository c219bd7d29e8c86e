"""Git-push delivery on local machines (issue 6), driven as a person does: on devserver, as appuser, train,
commit and `git push production main`; look at prodserver through its published port on 127.0.0.1.

On the session's stack (conftest.py), after the serving and healing drills of test_1_serve; tests in order:
each builds on the state the previous one left (the release in service, the working repository's
history). Figures (push durations) are printed, never asserted.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.stack import Shell, Stack, http_json, run_on

pytestmark = [pytest.mark.e2e, pytest.mark.machines, pytest.mark.slow, pytest.mark.usefixtures("first_run")]

WORK = "~/mlstack/deploy"
# The deploy account on prodserver (role git_deploy), which owns the repository the deploy key pushes to.
DEPLOY_USER = "mlstack-deploy"
DEPLOY_HOME = "/var/lib/mlstack-deploy"
REPO = f"{DEPLOY_HOME}/mlstack.git"
GIT = f"sudo -u {DEPLOY_USER} git --git-dir={REPO}"
CURRENT = "/opt/mlstack/current"
KNOWN_ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
MARKER = "pushed-from-devserver-7f3a"


def on(stack: Stack, group: str, command: str) -> str:
    """Run a command that must succeed; its output."""
    result = run_on(stack, group, command)
    assert result.rc == 0, f"{command!r} on {group} failed ({result.rc}):\n{result.output}"
    return result.output


def push(stack: Stack, what: str, command: str) -> Shell:
    result = run_on(stack, "devserver", f"cd {WORK} && {command}")
    print(f"\n--- {what}: {result.seconds:.1f} s, exit {result.rc}\n{result.output}")
    return result


def current(stack: Stack) -> str:
    return on(stack, "prodserver", f"readlink {CURRENT}").strip()


def served_model(stack: Stack) -> dict:
    status, body = http_json(f"{stack.app_url}/api/accuracy", timeout=120)
    assert status == 200, body
    return body["model"]


def repo_model(stack: Stack) -> tuple[str, dict]:
    """sha256 of model.keras and the metadata in the working repository on devserver."""
    sha = on(stack, "devserver", f"sha256sum {WORK}/model/model.keras").split()[0]
    metadata = json.loads(on(stack, "devserver", f"cat {WORK}/model/metadata.json"))
    return sha, metadata


def server_main(stack: Stack) -> str:
    return on(stack, "prodserver", f"{GIT} rev-parse refs/heads/main").strip()


def follow_the_server(stack: Stack) -> None:
    """After a push that should have been refused: the working repository back at the server's main."""
    on(stack, "devserver", f"cd {WORK} && git fetch -q production && git reset -q --hard production/main")


def page(stack: Stack, path: str) -> str:
    with urllib.request.urlopen(f"{stack.app_url}{path}", timeout=120) as response:
        assert response.status == 200
        return response.read().decode()


def changed_tasks(output: str, host: str) -> list[str]:
    """The tasks of an ansible-playbook output that reported 'changed' on ``host``."""
    found, task = [], ""
    for line in output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line.rstrip(" *")
        elif line.startswith(f"changed: [{host}") and task not in found:
            found.append(task)
    return found


def test_deploy_key_is_for_git_only_and_the_host_key_is_pinned(stack: Stack):
    shell = run_on(stack, "devserver", "ssh -o BatchMode=yes prodserver id")
    assert shell.rc != 0 and "unrecognized command" in shell.output, shell.output

    host_key = on(stack, "prodserver", "cat /etc/ssh/ssh_host_ed25519_key.pub").split()[:2]
    known = on(stack, "devserver", "cat ~/.ssh/known_hosts").splitlines()
    assert f"prodserver {' '.join(host_key)}" in known
    ssh_config = on(stack, "devserver", "cat ~/.ssh/config")
    assert "StrictHostKeyChecking" not in ssh_config
    assert "IdentityFile ~/.ssh/mlstack_deploy" in ssh_config

    public = on(stack, "devserver", "cat ~/.ssh/mlstack_deploy.pub").split()[1]
    authorized = on(stack, "prodserver", f"sudo cat {DEPLOY_HOME}/.ssh/authorized_keys").splitlines()
    line = next(line for line in authorized if public in line)
    assert line.startswith('restrict,command="git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"" ssh-ed25519 '), line
    assert public not in on(stack, "prodserver", "cat ~/.ssh/authorized_keys"), "the key opens appuser too"


def test_deploy_key_cannot_sudo_reach_docker_or_get_a_shell(stack: Stack):
    """The key's account is the deploy account: no sudo but the deploy rule, no docker group, and through
    the key itself nothing but git (issue 13). On the old layout the key logged in as appuser (sudo ALL,
    docker group)."""
    account = on(stack, "devserver", f"git -C {WORK} remote get-url production").split("@")[0]
    assert account == DEPLOY_USER
    for command in ("sudo -n true", "docker ps", "id"):
        shell = run_on(stack, "devserver", f"ssh -o BatchMode=yes prodserver {command!r}")
        assert shell.rc != 0 and "unrecognized command" in shell.output, (command, shell.output)
    shell = run_on(stack, "devserver", "ssh -tt -o BatchMode=yes prodserver </dev/null")
    assert shell.rc != 0 and "uid=" not in shell.output, shell.output
    # What the account itself may do, whatever reached it.
    groups = on(stack, "prodserver", f"id -nG {DEPLOY_USER}").split()
    assert groups == [DEPLOY_USER], groups
    as_account = f"sudo -n -u {DEPLOY_USER} --"
    refused = run_on(stack, "prodserver", f"{as_account} sudo -n true")
    assert refused.rc != 0, refused.output
    refused = run_on(stack, "prodserver", f"{as_account} docker ps")
    assert refused.rc != 0 and "permission denied" in refused.output.lower(), refused.output
    rules = on(stack, "prodserver", f"sudo -l -U {DEPLOY_USER}")
    allowed = rules.split("may run the following commands", 1)[1].splitlines()[1:]
    assert [line.strip() for line in allowed if line.strip()] == [
        "(root) NOPASSWD: /usr/local/sbin/mlstack-deploy deploy *"
    ], rules


def test_working_repository_holds_the_release_in_service(stack: Stack):
    release = current(stack).removeprefix("releases/")
    note = on(stack, "prodserver", f"cat /opt/mlstack/releases/{release}.commit").strip()
    assert on(stack, "devserver", f"git -C {WORK} rev-parse HEAD").strip() == note == server_main(stack)
    assert on(stack, "devserver", f"git -C {WORK} remote get-url production").strip() == (
        f"{DEPLOY_USER}@prodserver:mlstack.git"
    )
    sha, _ = repo_model(stack)
    assert served_model(stack)["sha256"] == sha


def test_pushed_model_is_served(stack: Stack):
    on(
        stack,
        "devserver",
        f"cd {WORK} && ~/mlstack/train.sh --epochs 3 --seed 7 --out {WORK}/model && "
        "git commit -qam 'Model: 3 epochs, seed 7'",
    )
    result = push(
        stack,
        "first push (a new model; turns the controller's release into a pushed one)",
        "git push production main",
    )
    assert result.rc == 0, result.output
    assert "deployed: release git-" in result.output

    sha, metadata = repo_model(stack)
    model = served_model(stack)
    assert model["sha256"] == sha
    assert model["holdout_accuracy"] == metadata["accuracy"] == metadata["holdout"]["accuracy"]
    assert model["train_accuracy"] == metadata["train_accuracy"]
    assert model["epochs"] == metadata["epochs"] == 3
    predictions = page(stack, "/predictions")
    assert metadata["trained_at"] in predictions and sha in predictions
    assert current(stack).startswith("releases/git-")
    assert server_main(stack) == on(stack, "devserver", f"git -C {WORK} rev-parse HEAD").strip()


def test_new_model_alone_is_delivered_to_the_running_release(stack: Stack):
    before = current(stack)
    on(stack, "devserver", "~/mlstack/train.sh --epochs 2 --seed 5 && ~/mlstack/bin/publish-model")
    result = push(stack, "model-only push", "git push production main")
    assert result.rc == 0, result.output
    assert "only the model is delivered" in result.output
    assert current(stack) == before
    sha, metadata = repo_model(stack)
    model = served_model(stack)
    assert (model["sha256"], model["epochs"]) == (sha, metadata["epochs"]) == (sha, 2)


def test_push_to_another_branch_is_stored_not_deployed(stack: Stack):
    before_release, before_model = current(stack), served_model(stack)["sha256"]
    result = push(
        stack,
        "push to a branch that does not deploy",
        "git checkout -q -b experiment && ~/mlstack/train.sh --epochs 1 --seed 3 --out model >/dev/null && "
        "git commit -qam Experiment && rc=0 && git push production experiment || rc=$?; "
        "git checkout -q main; exit $rc",
    )
    assert result.rc == 0, result.output
    assert "experiment: stored, not deployed (only main/master deploy)" in result.output
    assert current(stack) == before_release
    assert served_model(stack)["sha256"] == before_model
    stored = on(stack, "prodserver", f"{GIT} rev-parse refs/heads/experiment").strip()
    assert stored == on(stack, "devserver", f"git -C {WORK} rev-parse experiment").strip()


def test_push_over_the_size_limit_is_refused_and_nothing_is_stored(stack: Stack):
    """git_deploy_max_push_size (100m): a bigger push is refused by git before any hook runs (issue 13)."""
    before = (current(stack), server_main(stack))
    result = push(
        stack,
        "push over the size limit (110 MiB of random bytes)",
        "head -c 110M /dev/urandom > model/huge.bin && git add model/huge.bin && "
        "git commit -qm 'Huge file' && git push production main",
    )
    try:
        assert result.rc != 0, result.output
        assert "exceeds maximum allowed size" in result.output, result.output
        assert (current(stack), server_main(stack)) == before
        big = on(stack, "devserver", f"git -C {WORK} rev-parse HEAD:model/huge.bin").strip()
        missing = run_on(stack, "prodserver", f"{GIT} cat-file -e {big}")
        assert missing.rc != 0, "the refused push's objects were stored"
    finally:
        follow_the_server(stack)


def test_push_of_a_ref_outside_branches_and_tags_is_refused(stack: Stack):
    """Branches other than main/master and tags are stored, not deployed; other refs are refused."""
    result = push(stack, "push of refs/notes/x", "git push production HEAD:refs/notes/x")
    assert result.rc != 0, result.output
    assert "refusing refs/notes/x: only branches and tags are stored" in result.output
    assert run_on(stack, "prodserver", f"{GIT} rev-parse -q --verify refs/notes/x").rc != 0


def test_push_that_breaks_the_app_is_rejected_and_the_previous_release_keeps_serving(stack: Stack):
    before_release, before_model = current(stack), served_model(stack)["sha256"]
    before_main = server_main(stack)
    result = push(
        stack,
        "push of a broken app",
        "echo 'def broken(:' >> mlapp/web/__init__.py && git commit -qam 'Break the web app' && "
        "git push production main",
    )
    try:
        assert result.rc != 0, result.output
        assert "deploy FAILED" in result.output
        assert f"{before_release.removeprefix('releases/')} keeps serving" in result.output
        assert "SyntaxError" in result.output  # the web container's log says why
        assert "\x1b" not in result.output  # plain text, no terminal escapes
        assert "[remote rejected] main -> main" in result.output

        status, health = http_json(f"{stack.app_url}/healthz")
        assert status == 200, health
        status, answer = http_json(f"{stack.app_url}/api/predict", KNOWN_ROW)
        assert status == 200, answer
        assert answer["model"]["sha256"] == before_model
        assert current(stack) == before_release
        assert server_main(stack) == before_main
        failed = re.search(r"new code: release (git-[0-9a-f]{12})", result.output)
        assert failed, result.output
        listing = on(stack, "prodserver", "ls -a /opt/mlstack/releases")
        assert failed[1] not in listing
    finally:
        on(stack, "devserver", f"cd {WORK} && git reset -q --hard HEAD~1")


def stack_images(stack: Stack) -> list[str]:
    """One "service image state" line per container of the stack (containers may be recreated)."""
    listing = on(
        stack,
        "prodserver",
        "sudo docker ps -a --filter label=com.docker.compose.project=mlstack "
        "--format '{{.Label \"com.docker.compose.service\"}} {{.Image}} {{.State}}' | sort",
    )
    return listing.splitlines()


def head_commit(stack: Stack) -> str:
    return on(stack, "devserver", f"git -C {WORK} rev-parse HEAD").strip()


def deploy_log(stack: Stack, commit: str) -> str:
    """The deploy log of a commit on prodserver (empty while there is none)."""
    # The log directory is root's (0750): the glob is expanded by root's shell.
    glob = f"/var/log/mlstack-deploy/deploy-*-{commit[:12]}.log"
    return run_on(stack, "prodserver", f"sudo sh -c 'cat {glob}'").output


def wait_for(what: str, check, timeout: float = 600, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def no_deploy_running(stack: Stack) -> bool:
    """No mlstack-deploy deploy (nor its wait for git to move the branch) runs on prodserver."""
    return run_on(stack, "prodserver", "pgrep -f 'sbin/[m]lstack-deploy deploy'").rc == 1


def push_in_background(stack: Stack, name: str) -> int:
    """Start `git push production main` on devserver in a session of its own; its process group id.
    Its output goes to /tmp/<name>.log and its exit code to /tmp/<name>.rc."""
    command = (
        f"cd {WORK} && rm -f /tmp/{name}.rc && "
        f"(setsid bash -c 'git push production main; echo $? > /tmp/{name}.rc' "
        f">/tmp/{name}.log 2>&1 </dev/null & echo $!)"
    )
    return int(on(stack, "devserver", command).strip())


def stack_containers(stack: Stack) -> str:
    return on(
        stack,
        "prodserver",
        "sudo docker ps -a --filter label=com.docker.compose.project=mlstack "
        "--format '{{.ID}} {{.Image}} {{.State}}' | sort",
    )


def test_push_of_a_compose_file_that_asks_for_the_host_is_refused_and_nothing_changes(stack: Stack):
    """A push may change code and the model, not what the containers may do to the host (issue 13)."""
    before = (current(stack), served_model(stack)["sha256"], server_main(stack), stack_containers(stack))
    releases = on(stack, "prodserver", "ls -a /opt/mlstack/releases")
    result = push(
        stack,
        "push of a compose file asking for privileged and a bind mount of /",
        "sed -i 's|^  web:$|  web:\\n    privileged: true\\n    volumes: [\"/:/host\"]|' compose.yaml && "
        "grep -q 'privileged: true' compose.yaml && git commit -qam 'Web: privileged, / mounted' && "
        "git push production main",
    )
    try:
        assert result.rc != 0, result.output
        assert "compose.yaml refused: service web: privileged is not allowed" in result.output
        assert "compose.yaml refused: service web: bind mount: / is not one of the paths" in result.output
        assert "[remote rejected] main -> main" in result.output
        assert "rolling back" not in result.output  # refused before anything was touched
        after = (current(stack), served_model(stack)["sha256"], server_main(stack), stack_containers(stack))
        assert after == before
        assert on(stack, "prodserver", "ls -a /opt/mlstack/releases") == releases
    finally:
        on(stack, "devserver", f"cd {WORK} && git reset -q --hard HEAD~1")


def test_push_of_a_symlinked_model_file_is_refused_and_nothing_changes(stack: Stack):
    """Model files must be regular files in the commit: root never follows a link (issue 13)."""
    before = (current(stack), served_model(stack)["sha256"], server_main(stack), stack_containers(stack))
    result = push(
        stack,
        "push of a model file that is a symbolic link",
        "rm model/model.keras && ln -s /opt/mlstack/shared/model/model.keras model/model.keras && "
        "git add -A model && git commit -qm 'Model: a link to the served file' && git push production main",
    )
    try:
        assert result.rc != 0, result.output
        assert "model/model.keras is not a regular file" in result.output, result.output
        assert "[remote rejected] main -> main" in result.output
        after = (current(stack), served_model(stack)["sha256"], server_main(stack), stack_containers(stack))
        assert after == before
    finally:
        follow_the_server(stack)


def test_code_change_builds_new_images_and_switches_the_release(stack: Stack):
    before_release, before_model = current(stack), served_model(stack)["sha256"]
    result = push(
        stack,
        "push of a code change (a template)",
        f"sed -i 's|{{% block content %}}|{{% block content %}}<p id=\"pushed\">{MARKER}</p>|' "
        "mlapp/web/templates/index.html && grep -q "
        f"{MARKER} mlapp/web/templates/index.html && git commit -qam 'Say where the page comes from' && "
        "git push production main",
    )
    assert result.rc == 0, result.output
    release = re.search(r"new code: release (git-[0-9a-f]{12})", result.output)
    assert release, result.output
    assert current(stack) == f"releases/{release[1]}" != before_release
    images = f"mlstack/web:{release[1]} mlstack/worker:{release[1]}"
    on(stack, "prodserver", f"sudo docker image inspect {images} >/dev/null")
    assert MARKER in page(stack, "/")
    assert served_model(stack)["sha256"] == before_model


def test_pusher_killed_mid_deploy_leaves_the_previous_release_in_service(stack: Stack):
    """The pusher's git (and its ssh) killed while the stack is being switched to the new release: the deploy
    rolls back to the previous release and completes (issue 13: the first write after the pusher had gone
    killed the deploy in its rollback: the stack ran the new release, current the old one)."""
    before_release, before_model, before_main = (
        current(stack),
        served_model(stack)["sha256"],
        server_main(stack),
    )
    before_images = stack_images(stack)
    on(
        stack,
        "devserver",
        f"cd {WORK} && echo '# a push that is killed' >> mlapp/__init__.py && "
        "git commit -qam 'A push that is killed'",
    )
    commit = head_commit(stack)
    try:
        group = push_in_background(stack, "killed-push")
        wait_for(
            "the deploy to bring the stack up from the new release",
            lambda: "== bringing the stack up from" in deploy_log(stack, commit),
            timeout=600,
            every=0.5,
        )
        on(stack, "devserver", f"kill -KILL -- -{group}")
        wait_for("the deploy to end", lambda: no_deploy_running(stack), timeout=900, every=2)
        log = deploy_log(stack, commit)
        print(f"\n--- the killed push's deploy log (end)\n{log[-3000:]}")
        assert current(stack) == before_release, log[-3000:]
        assert stack_images(stack) == before_images, log[-3000:]
        assert served_model(stack)["sha256"] == before_model
        assert server_main(stack) == before_main
        status, health = http_json(f"{stack.app_url}/healthz")
        assert status == 200, health
        assert "the pusher disconnected" in log and "rolling back to" in log
        failed = re.search(r"new code: release (git-[0-9a-f]{12})", log)
        assert failed and failed[1] not in on(stack, "prodserver", "ls -a /opt/mlstack/releases")
    finally:
        follow_the_server(stack)


def test_playbook_run_during_a_push_does_not_revert_it(stack: Stack):
    """The playbook's release tasks, mlstack-sync-workers and the deploy share one lock, held by a push until
    git has moved the branch: a run started mid-push waits for it, then keeps what it deployed (issue 13)."""
    before_model = served_model(stack)["sha256"]
    on(
        stack,
        "devserver",
        f"cd {WORK} && sed -i 's|^FROM base AS web$|FROM base AS web\\nRUN sleep 90|' "
        "Dockerfile && grep -qx 'RUN sleep 90' Dockerfile && git commit -qam 'Web: a slow build step'",
    )
    commit = head_commit(stack)
    push_in_background(stack, "slow-push")
    wait_for(
        "the deploy to build the new images",
        lambda: "== building the web image" in deploy_log(stack, commit),
        timeout=600,
        every=0.5,
    )
    run = stack.playbook("playbook-during-push", "--limit", "prodserver")
    print(f"\nplaybook run during a push: {run.seconds:.0f} s, changed {run.changed()}")
    rc = wait_for(
        "the push to end",
        lambda: run_on(stack, "devserver", "cat /tmp/slow-push.rc").output.strip(),
        timeout=900,
        every=2,
    )
    output = on(stack, "devserver", "cat /tmp/slow-push.log")
    print(f"\n--- the push\n{output}")
    assert rc == "0", output
    assert run.rc == 0, run.explain()
    release = re.search(r"new code: release (git-[0-9a-f]{12})", output)
    assert release, output
    assert current(stack) == f"releases/{release[1]}"
    assert server_main(stack) == commit
    note = on(stack, "prodserver", f"cat /opt/mlstack/releases/{release[1]}.commit").strip()
    assert note == commit
    images = {line.split()[0]: line.split()[1] for line in stack_images(stack)}
    assert images["web"] == f"mlstack/web:{release[1]}", images
    assert images["worker"] == f"mlstack/worker:{release[1]}", images
    assert served_model(stack)["sha256"] == before_model


def test_playbook_rerun_keeps_the_pushed_release(stack: Stack):
    before_release, before_model = current(stack), served_model(stack)["sha256"]
    run = stack.playbook("rerun-after-pushes")
    print(f"\nplaybook re-run: {run.seconds:.0f} s, changed {run.changed()}")
    assert run.rc == 0, run.explain()
    assert run.recap["prodserver"]["changed"] == 0, changed_tasks(run.output, "prodserver")
    assert current(stack) == before_release
    assert served_model(stack)["sha256"] == before_model
    assert MARKER in page(stack, "/")


def test_playbook_heals_the_pushed_release_from_its_commit(stack: Stack):
    release = current(stack)
    on(
        stack,
        "prodserver",
        f"sudo rm {CURRENT}/mlapp/web/templates/index.html && "
        f"echo '# drift' | sudo tee -a {CURRENT}/compose.yaml && "
        "sudo rm /opt/mlstack/shared/model/metadata.json",
    )
    run = stack.playbook("heal")
    assert run.rc == 0, run.explain()
    assert changed_tasks(run.output, "prodserver") == [
        "TASK [model_serving : Restore the pushed release's files and model from its commit]"
    ], run.explain()
    note = f"/opt/mlstack/releases/{release.removeprefix('releases/')}.commit"
    commit = on(stack, "prodserver", f"cat {note}").strip()
    for path, server_path in (
        ("mlapp/web/templates/index.html", f"{CURRENT}/mlapp/web/templates/index.html"),
        ("compose.yaml", f"{CURRENT}/compose.yaml"),
        ("model/metadata.json", "/opt/mlstack/shared/model/metadata.json"),
    ):
        on(stack, "prodserver", f"{GIT} show {commit}:{path} | sudo cmp - {server_path}")
    assert current(stack) == release
    assert MARKER in page(stack, "/")


def test_installed_scripts_are_shellcheck_clean(stack: Stack, tmp_path: Path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed", pytrace=False)
    scripts = {
        "publish-model": on(stack, "devserver", "cat ~/mlstack/bin/publish-model"),
        "mlstack-deploy": on(stack, "prodserver", "cat /usr/local/sbin/mlstack-deploy"),
        "pre-receive": on(stack, "prodserver", f"sudo cat {REPO}/hooks/pre-receive"),
        "post-receive": on(stack, "prodserver", f"sudo cat {REPO}/hooks/post-receive"),
    }
    for name, text in scripts.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [shellcheck, *(str(tmp_path / name) for name in scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
