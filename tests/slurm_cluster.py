"""A SLURM cluster on 127.0.0.1 for the tests: munged, MariaDB, slurmdbd, slurmctld and a slurmd for each node
(one by default; several share this machine under names of their own), each with its config, key, socket,
state and log in one temporary folder, on free ports above 1024.

    with slurm_cluster() as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env=os.environ | cluster.env)

The daemons run in the foreground as this process's children; leaving the block stops them and removes the folder.
Nothing outside the folder is read or written (the Slurm commands find the config through SLURM_CONF)."""

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

# Debian's slurm-wlm, slurmdbd, munge and mariadb-server
PROGRAMS = ["munged", "mungekey", "mariadb-install-db", "mariadbd", "mariadb", "slurmdbd", "slurmctld", "slurmd"]
PROGRAMS += ["sbatch", "srun", "scancel", "squeue", "sacct", "sacctmgr", "sinfo", "scontrol"]
CLUSTER = "gpt1test"
PARTITION = "debug"
ACCOUNT = "gpt1"
DATABASE = "slurm_acct_db"
START_TIMEOUT_S = 90
# GPUs as SLURM sees them: GRES backed by empty files, so GPU requests are scheduled and accounted as on a GPU node
# (CUDA finds none: the jobs run on the CPU)
GPUS = 8


@dataclass(frozen=True)
class Cluster:
    root: Path
    env: dict[str, str]  # SLURM_CONF and PATH: what a Slurm command needs to talk to this cluster
    nodes: list[str]  # the first is this machine's name, the others "<it>-1", ...
    partition: str = PARTITION
    account: str = ACCOUNT

    def command(self, *args: str) -> str:
        """The output of a Slurm command (sacct, sinfo, ...) against this cluster; raises if it fails."""
        done = subprocess.run(args, env=os.environ | self.env, capture_output=True, text=True, timeout=60)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
        return done.stdout


def missing_programs() -> list[str]:
    """The programs the cluster needs that are not on PATH (nor in /usr/sbin, where Debian puts daemons)."""
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    return [name for name in PROGRAMS if shutil.which(name, path=path) is None]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def program(name: str) -> str:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


class Daemons:
    """The cluster's daemons, started in order and stopped in the reverse order."""

    def __init__(self, logs: Path):
        self.logs, self.running = logs, []

    def start(self, name: str, *args: str, env: dict[str, str] | None = None, label: str = "") -> subprocess.Popen:
        """Start the program `name`; its output goes to <label or name>.out."""
        label = label or name
        log = open(self.logs / f"{label}.out", "wb")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen([program(name), *args], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.running.append((label, process, log))
        return process

    def check_running(self) -> None:
        for name, process, _ in self.running:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}); see {self.logs / name}.out:\n{self.tail()}")

    def tail(self) -> str:
        logs = sorted([*self.logs.glob("*.out"), *self.logs.glob("*/log/*.log")])
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in logs)

    def stop(self) -> None:
        for _, process, log in reversed(self.running):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
        self.running.clear()


def wait_until(ready, what: str, daemons: Daemons, timeout_s: float = START_TIMEOUT_S) -> None:
    """Poll `ready()` until it is true; raise, with the daemons' logs, after `timeout_s` or when one exits."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        daemons.check_running()
        if time.monotonic() > deadline:
            raise RuntimeError(f"the test cluster: {what} not ready after {timeout_s} s\n{daemons.tail()}")
        time.sleep(0.5)


def succeeds(args: list[str], env: dict[str, str] | None = None, expect: str = "") -> bool:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    return done.returncode == 0 and expect in done.stdout


def start_munge(root: Path, daemons: Daemons) -> Path:
    """munged with its own key and socket; returns the socket."""
    munge = root / "munge"
    munge.mkdir(mode=0o700)
    key = munge / "munge.key"
    subprocess.run([program("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
    sock = munge / "munge.socket"
    files = [f"--key-file={key}", f"--pid-file={munge}/munged.pid", f"--seed-file={munge}/munged.seed"]
    daemons.start("munged", "--foreground", "--force", f"--socket={sock}", f"--log-file={munge}/munged.log", *files)
    wait_until(lambda: sock.exists(), "munged", daemons)
    return sock


def start_mariadb(root: Path, daemons: Daemons, user: str, password: str) -> int:
    """MariaDB on 127.0.0.1 with a database user for slurmdbd; returns its port."""
    data, sock, port = root / "mariadb", root / "mariadb.sock", free_port()
    run_as = ["--user", getpass.getuser()]
    subprocess.run(
        [program("mariadb-install-db"), "--no-defaults", f"--datadir={data}", *run_as, "--skip-test-db"],
        check=True,
        capture_output=True,
    )
    server = ["--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}", "--bind-address=127.0.0.1"]
    daemons.start("mariadbd", *server, f"--pid-file={root}/mariadb.pid", "--skip-log-bin", *run_as)
    admin = [program("mariadb"), "--no-defaults", f"--socket={sock}", "-u", getpass.getuser()]
    wait_until(lambda: succeeds([*admin, "-e", "SELECT 1"]), "MariaDB", daemons)
    grant = (
        f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'; "
        f"GRANT ALL ON {DATABASE}.* TO '{user}'@'127.0.0.1';"
    )
    subprocess.run([*admin, "-e", grant], check=True, capture_output=True)
    return port


def write_configs(root: Path, nodes: list[str], munge_socket: Path, mariadb_port: int, password: str) -> Path:
    """slurmdbd.conf, slurm.conf and gres.conf in `root`; returns slurm.conf. Each node has this machine's cores,
    its share of the memory and GPUS fake GPUs; no cgroups (proctrack/linuxproc, task/none), so it runs in a
    container too."""
    host = nodes[0]
    user, slurm = getpass.getuser(), root / "slurm"
    for name in ("state", "spool", "log"):
        (slurm / name).mkdir(parents=True)
    dbd_port, ctld_port = free_port(), free_port()
    dbd = root / "slurmdbd.conf"
    dbd.write_text(
        f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}\nDbdHost={host}\nDbdAddr=127.0.0.1\n"
        f"DbdPort={dbd_port}\nSlurmUser={user}\nLogFile={slurm}/log/slurmdbd.log\nPidFile={slurm}/slurmdbd.pid\n"
        f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort={mariadb_port}\n"
        f"StorageUser=slurm\nStoragePass={password}\nStorageLoc={DATABASE}\n"
    )
    dbd.chmod(0o600)  # slurmdbd refuses a config others can read (it holds the password)
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    conf = root / "slurm.conf"
    conf.write_text(
        f"ClusterName={CLUSTER}\nSlurmctldHost={host}(127.0.0.1)\nSlurmctldPort={ctld_port}\n"
        f"SlurmUser={user}\nSlurmdUser={user}\n"
        f"AuthType=auth/munge\nAuthInfo=socket={munge_socket}\nCredType=cred/munge\n"
        f"StateSaveLocation={slurm}/state\nSlurmdSpoolDir={slurm}/spool/%n\n"
        f"SlurmctldPidFile={slurm}/slurmctld.pid\nSlurmdPidFile={slurm}/slurmd-%n.pid\n"
        f"SlurmctldLogFile={slurm}/log/slurmctld.log\nSlurmdLogFile={slurm}/log/slurmd-%n.log\n"
        "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/linux\n"
        "AccountingStoreFlags=job_comment\nMpiDefault=none\nSwitchType=switch/none\nLaunchParameters=use_interactive_step\n"
        "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
        "SlurmdParameters=config_overrides\nReturnToService=2\nMinJobAge=300\nSchedulerParameters=sched_interval=2\n"
        f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
        f"AccountingStoragePort={dbd_port}\nAccountingStorageEnforce=associations\nJobCompType=jobcomp/none\n"
        # the munge socket of the connection to slurmdbd (AuthInfo is only that of the other daemons)
        f"AccountingStoragePass={munge_socket}\n"
        "GresTypes=gpu\nAccountingStorageTRES=gres/gpu\n"
        + "".join(
            f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 Port={free_port()} CPUs={os.cpu_count()} "
            f"RealMemory={memory_mb // len(nodes)} Gres=gpu:{GPUS} State=UNKNOWN\n"
            for node in nodes
        )
        + f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
    )
    devices = root / "gpus"
    devices.mkdir()
    for index in range(GPUS):
        (devices / f"gpu{index}").touch()
    gres = f"AutoDetect=off\nNodeName={','.join(nodes)} Name=gpu File={devices}/gpu[0-{GPUS - 1}]\n"
    (root / "gres.conf").write_text(gres)
    return conf


def idle_nodes(env: dict[str, str]) -> int:
    listed = subprocess.run(
        [program("sinfo"), "-h", "-N", "-t", "idle", "-o", "%N"], env=env, capture_output=True, text=True
    )
    return len(listed.stdout.split())


def cancel_jobs(env: dict[str, str], timeout_s: float = 30) -> None:
    """Cancel this user's jobs still queued or running, and wait until the queue is empty."""
    subprocess.run([program("scancel"), "--user", getpass.getuser()], env=env, capture_output=True, timeout=30)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        queue = subprocess.run([program("squeue"), "-h"], env=env, capture_output=True, text=True, timeout=30)
        if queue.returncode or not queue.stdout.strip():
            return
        time.sleep(0.5)


def srun_with_config(root: Path, conf: Path) -> Path:
    """A folder with an `srun` that runs the real one with SLURM_CONF set. The SLURM plugin's job step
    (snakemake-executor-plugin-slurm-jobstep 0.6.1) removes SLURM_* variables, SLURM_CONF among them, from the
    environment of the `srun` it runs in each job; a real cluster's srun finds /etc/slurm/slurm.conf instead."""
    folder = root / "bin"
    folder.mkdir()
    srun = folder / "srun"
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {program("srun")} "$@"\n')
    srun.chmod(0o755)
    return folder


@contextmanager
def slurm_cluster(nodes: int = 1) -> Iterator[Cluster]:
    """Start the cluster; yield it once `sinfo` shows its nodes idle and `sacct` answers; stop it and remove its
    folder on exit."""
    if missing := missing_programs():
        raise RuntimeError(f"the test cluster needs {', '.join(missing)}: install them with .ci/slurm.sh")
    host = socket.gethostname().split(".")[0]
    names = [host, *(f"{host}-{index}" for index in range(1, nodes))]
    with ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="slurm-"))  # short: socket paths have a 108-byte limit
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        daemons = Daemons(root)
        stack.callback(daemons.stop)
        password = secrets.token_hex(8)
        munge_socket = start_munge(root, daemons)
        mariadb_port = start_mariadb(root, daemons, "slurm", password)
        conf = write_configs(root, names, munge_socket, mariadb_port, password)
        env = {"SLURM_CONF": str(conf), "PATH": f"{srun_with_config(root, conf)}:{os.environ['PATH']}"}
        slurm_env = os.environ | env
        daemons.start("slurmdbd", "-D", env=slurm_env)  # its config beside SLURM_CONF
        cluster = Cluster(root, env, names)
        wait_until(lambda: succeeds([program("sacctmgr"), "-n", "list", "cluster"], slurm_env), "slurmdbd", daemons)
        user = getpass.getuser()
        for args in (
            ["add", "cluster", CLUSTER],
            ["add", "account", ACCOUNT, f"cluster={CLUSTER}"],
            ["add", "user", user, f"account={ACCOUNT}", f"cluster={CLUSTER}"],
        ):
            cluster.command("sacctmgr", "-i", *args)
        daemons.start("slurmctld", "-D", "-i", env=slurm_env)
        stack.callback(cancel_jobs, slurm_env)  # first on exit: no job step outlives slurmd
        for name in names:
            daemons.start("slurmd", "-D", "-N", name, env=slurm_env, label=f"slurmd-{name}")
        wait_until(lambda: idle_nodes(slurm_env) == nodes, "slurmctld and slurmd", daemons)
        wait_until(lambda: succeeds([program("sacct"), "-n", "-a"], slurm_env), "sacct", daemons)
        yield cluster
